"""The ``motcua`` command line, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def motcua(*args: str, stdin: bytes | None = None, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(tmp / "cli.sqlite3"), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )


def test_ask_json_answers_one_message(tmp_path: Path) -> None:
    done = motcua("ask", "--json", "đk kết hôn mất bao nhiêu tiền", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["intent"] == "procedure"
    assert answer["matches"][0]["id"] == "ket-hon"
    assert answer["aspect"] == "fee"
    assert "Lệ phí" in answer["reply"]
    assert answer["choices"] == ["Giấy tờ", "Thời hạn", "Nơi nộp", "Mẫu đơn"]


def test_ask_json_stdin_answers_line_for_line(tmp_path: Path) -> None:
    lines = [
        "lam giay khai sinh can gi",
        "thời tiết ngày mai",
        "làm hộ chiếu ở đâu",
        "tra cứu hồ sơ 000.00.14.H56-251120-0001",
        "xin chào",
        "",
        "thế còn lệ phí?",  # a fresh conversation: no procedure to follow up on
    ]
    done = motcua("ask", "--json", "-", stdin="\n".join(lines).encode(), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [a["intent"] for a in answers] == [
        "procedure", "unknown", "referral", "status", "help", "help", "unknown",
    ]
    assert all(len(a["matches"]) <= 3 for a in answers)
    status = answers[3]["reply"]
    assert "Nguyễn V. A." in status and "Nguyễn Văn An" not in status and "0912" not in status


def test_ask_session_carries_follow_ups(tmp_path: Path) -> None:
    stdin = "dk ket hon can giay to gi\nthế còn lệ phí?\n2\n".encode()
    done = motcua("ask", "--json", "--session", "-", stdin=stdin, tmp=tmp_path)
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(a["matches"][0]["id"], a["aspect"]) for a in answers] == [
        ("ket-hon", "documents"),
        ("ket-hon", "fee"),
        ("ket-hon", "time"),  # choice 2 under the fee answer
    ]


def test_invalid_utf8_on_stdin_is_reported_and_answered(tmp_path: Path) -> None:
    done = motcua("ask", "--json", "-", stdin=b"kh\xffai sinh can gi\n\xc3\n", tmp=tmp_path)
    assert done.returncode == 0
    assert len(done.stdout.decode().splitlines()) == 2
    assert b"stdin line 1: not valid UTF-8" in done.stderr
    assert b"Traceback" not in done.stderr


def test_ask_plain_prints_numbered_choices(tmp_path: Path) -> None:
    done = motcua("ask", "khai tử cần gì", tmp=tmp_path)
    out = done.stdout.decode()
    assert out.startswith("Đăng ký khai tử")
    assert "Trả lời 1, 2, 3 hoặc 4 để chọn:\n1. Lệ phí" in out


def test_validate_bundled_catalogue(tmp_path: Path) -> None:
    done = motcua("validate", tmp=tmp_path)
    assert done.returncode == 0
    assert b"OK" in done.stdout


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "cat" / "ho-tich"
    bad.mkdir(parents=True)
    (bad / "a.yaml").write_text("id: a\nname: [x\n", encoding="utf-8")
    (bad / "b.yaml").write_text("id: b\nname: B\nwho: x\n", encoding="utf-8")
    done = motcua("validate", str(tmp_path / "cat"), tmp=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 1
    assert f"{bad / 'a.yaml'}:" in err and "YAML syntax error" in err
    assert f"{bad / 'b.yaml'}:3: who: unknown key" in err
    assert f"{bad / 'b.yaml'}:1: field: missing required key" in err


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("matching:\n  confident: lots\n", encoding="utf-8")
    done = motcua("--config", str(config), "ask", "xin chào", tmp=tmp_path)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == f"motcua: {config}: matching.confident: expected a number, got 'lots'"


def test_broken_catalogue_stops_ask_with_a_clear_error(tmp_path: Path) -> None:
    done = motcua("--catalogue", str(tmp_path / "missing"), "ask", "khai sinh", tmp=tmp_path)
    assert done.returncode == 2
    assert b"catalogue folder not found" in done.stderr and b"Traceback" not in done.stderr


def test_run_without_channels_explains_what_to_configure(tmp_path: Path) -> None:
    done = motcua("run", tmp=tmp_path)
    assert done.returncode == 2
    assert b"no channel configured" in done.stderr


def test_chat_reads_until_the_user_quits(tmp_path: Path) -> None:
    done = motcua("chat", stdin="xin chào\nkhai sinh cần gì\n1\nthoát\n".encode(), tmp=tmp_path)
    out = done.stdout.decode()
    assert done.returncode == 0
    assert "Xin chào!" in out and "Giấy tờ cần chuẩn bị" in out and "Lệ phí" in out


def test_sync_maps_procedure_names_to_catalogue_ids(tmp_path: Path) -> None:
    import sqlite3

    export = tmp_path / "export.csv"
    export.write_text(
        "Mã hồ sơ,Tên thủ tục,Chủ hồ sơ,Số điện thoại,Địa chỉ,Ngày tiếp nhận,Ngày hẹn trả,Ngày trả kết quả,Trạng thái\n"
        "000.00.14.H56-261201-0001,Đăng ký khai sinh,Hà Văn Một,0900000001,Thôn 1,01/12/2026,02/12/2026,,Đang xử lý\n"
        "000.00.14.H56-261201-0002,Thủ tục lạ không có trong danh mục,Hà Văn Hai,0900000002,Thôn 2,01/12/2026,02/12/2026,,Đang xử lý\n",
        encoding="utf-8",
    )
    done = motcua("sync", str(export), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        ids = dict(db.execute("SELECT code, procedure_id FROM dossiers WHERE code LIKE '%261201%'"))
    assert ids == {"000.00.14.H56-261201-0001": "khai-sinh", "000.00.14.H56-261201-0002": None}


def test_report_prints_channel_usage_as_text_and_json(tmp_path: Path) -> None:
    import sqlite3
    from datetime import datetime

    assert motcua("report", tmp=tmp_path).returncode == 0  # creates the database
    month = datetime.now().strftime("%Y-%m")
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        db.execute("INSERT INTO channel_usage VALUES ('zalo', ?, 2550), ('telegram', ?, 40)", (month, month))
    done = motcua("report", "--json", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["month"] == month
    assert report["channels"]["zalo"]["sent"] == 2550 and report["channels"]["zalo"]["quota"] == 3000
    assert report["channels"]["telegram"]["sent"] == 40
    text = motcua("report", tmp=tmp_path).stdout.decode()
    assert "Zalo messages sent: 2550 / 3000 (85%)" in text and "Telegram messages sent: 40" in text
