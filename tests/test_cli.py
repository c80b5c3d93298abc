"""The ``motcua`` command line, run as a real process."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "ZALO_WEBHOOK_SECRET")


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without any bot token, and a per-user data folder under ``tmp``."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env["XDG_DATA_HOME"] = str(tmp / "xdg")
    return env


def motcua(*args: str, stdin: bytes | None = None, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(tmp / "cli.sqlite3"), *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=clean_env(tmp),
        timeout=120,
    )


def start_motcua(*args: str, tmp: Path, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--db", str(tmp / "cli.sqlite3"), *args],
        cwd=ROOT,
        env=clean_env(tmp),
        **kwargs,
    )


def test_ask_json_answers_one_message(tmp_path: Path) -> None:
    done = motcua("ask", "--json", "đk kết hôn mất bao nhiêu tiền", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["intent"] == "procedure"
    assert answer["matches"][0]["id"] == "ket-hon"
    assert answer["aspect"] == "fee"
    assert "Lệ phí" in answer["reply"]
    assert {"Giấy tờ", "Thời hạn", "Nơi nộp"} <= set(answer["choices"])


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
    assert "để chọn:\n1. " in out and ". Lệ phí\n" in out


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
    assert done.stderr.decode().strip() == f"motcua: {config}:2: matching.confident: expected a number, got 'lots'"


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


def test_production_config_needs_no_tokens_except_for_run(tmp_path: Path) -> None:
    config = ["--config", str(ROOT / "config.example.yaml")]
    export = tmp_path / "export.csv"
    export.write_text("Mã hồ sơ,Trạng thái\n000.00.14.H56-261201-0001,Đang xử lý\n", encoding="utf-8")
    evalset = tmp_path / "eval.yaml"
    evalset.write_text('- q: "lam giay khai sinh can gi"\n  expect: "khai-sinh"\n  aspect: "documents"\n', encoding="utf-8")
    runs = {
        "validate": motcua(*config, "validate", tmp=tmp_path),
        "ask": motcua(*config, "ask", "--json", "lam giay khai sinh can gi", tmp=tmp_path),
        "chat": motcua(*config, "chat", stdin="khai sinh cần gì\n".encode(), tmp=tmp_path),
        "sync": motcua(*config, "sync", str(export), tmp=tmp_path),
        "eval": motcua(*config, "eval", str(evalset), tmp=tmp_path),
    }
    for command, done in runs.items():
        assert done.returncode == 0, (command, done.stderr)
        assert b"TELEGRAM_BOT_TOKEN" not in done.stderr, command
    assert json.loads(runs["ask"].stdout)["matches"][0]["id"] == "khai-sinh"
    assert "Giấy tờ cần chuẩn bị" in runs["chat"].stdout.decode()
    run = motcua(*config, "run", tmp=tmp_path)
    assert run.returncode == 2
    assert b"channels.telegram.token: environment variable TELEGRAM_BOT_TOKEN is not set" in run.stderr
    assert b"Traceback" not in run.stderr


def test_ask_into_a_reader_that_closes_early_ends_quietly(tmp_path: Path) -> None:
    with start_motcua(
        "ask", "--json", "-", tmp=tmp_path,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as ask:  # its pipes closed at the end
        assert ask.stdin is not None and ask.stdout is not None and ask.stderr is not None
        ask.stdin.write("lam giay khai sinh can gi\n".encode() * 2000)
        ask.stdin.close()
        first = ask.stdout.readline()  # like `| head -1`
        ask.stdout.close()
        assert ask.wait(timeout=60) == 141  # the status of a process ended by SIGPIPE
        assert json.loads(first)["intent"] == "procedure"
        err = ask.stderr.read()
        assert err == b"", err


def test_ctrl_c_ends_the_chat_with_a_goodbye(tmp_path: Path) -> None:
    # The chat reads a terminal, as a person at the keyboard would have it.
    keyboard, terminal = pty.openpty()
    chat = start_motcua("chat", tmp=tmp_path, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    with chat:  # its pipes closed at the end
        assert chat.stdout is not None and chat.stderr is not None
        os.write(keyboard, "xin chào\n".encode())
        seen = b""
        while b"Xin ch\xc3\xa0o!" not in seen or not seen.endswith("Bạn: ".encode()):
            chunk = os.read(chat.stdout.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        chat.send_signal(signal.SIGINT)  # Ctrl+C while the chat waits for the next line
        started = time.monotonic()
        try:
            code = chat.wait(timeout=10)
        finally:
            chat.kill()
        assert code == 0 and time.monotonic() - started < 10
        out = seen + chat.stdout.read()
        assert out.decode().rstrip().endswith("Tạm biệt! Khi cần, cứ mở lại và hỏi tiếp nhé.")
        err = chat.stderr.read()
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err
    os.close(keyboard)


def test_end_of_input_ends_the_chat_with_a_goodbye(tmp_path: Path) -> None:
    done = motcua("chat", stdin="xin chào\n".encode(), tmp=tmp_path)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().rstrip().endswith("Tạm biệt! Khi cần, cứ mở lại và hỏi tiếp nhé.")
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
