"""Start-up as an operator meets it: the last good catalogue, and what the CLI imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Libraries that only some subcommands need: importing them costs start-up time.
HEAVY = ("telegram", "openpyxl", "httpx", "aiohttp", "rank_bm25", "tornado")


def run(*args: str, tmp: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "user-cache")}
    return subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, cwd=ROOT, timeout=120, env=env
    )


def motcua(*args: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    return run("-m", "bot.cli", "--db", str(tmp / "db.sqlite3"), *args, tmp=tmp)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dest = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", dest, ignore=shutil.ignore_patterns(".cache"))
    return dest


def break_catalogue(folder: Path) -> Path:
    path = folder / "ho-tich" / "ket-hon.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("fee:", "fee: [", 1), encoding="utf-8")
    return path


def test_a_broken_catalogue_keeps_the_bot_answering_from_the_last_good_one(folder: Path, tmp_path: Path) -> None:
    first = motcua("--catalogue", str(folder), "ask", "--json", "đk kết hôn mất bao nhiêu tiền", tmp=tmp_path)
    assert first.returncode == 0, first.stderr
    broken = break_catalogue(folder)
    again = motcua("--catalogue", str(folder), "ask", "--json", "đk kết hôn mất bao nhiêu tiền", tmp=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    err = again.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "WARNING" in err[0] and "Traceback" not in err[0]
    assert f"{broken}:" in err[0] and "serving the last good catalogue" in err[0] and "motcua validate" in err[0]
    checked = motcua("validate", str(folder), tmp=tmp_path)  # validation still fails
    assert checked.returncode == 1 and f"{broken}:" in checked.stderr.decode()


def test_a_broken_catalogue_without_a_last_good_copy_stops_with_the_usual_error(
    folder: Path, tmp_path: Path
) -> None:
    broken = break_catalogue(folder)
    done = motcua("--catalogue", str(folder), "ask", "khai sinh", tmp=tmp_path)
    assert done.returncode == 2 and done.stdout == b""
    err = done.stderr.decode().strip().splitlines()
    assert err and all(line.startswith(f"motcua: {broken}:") for line in err)


def test_the_second_start_loads_the_compiled_catalogue(folder: Path, tmp_path: Path) -> None:
    motcua("--catalogue", str(folder), "ask", "khai sinh", tmp=tmp_path)
    assert (folder / ".cache").is_dir()
    probe = (
        "import sys; from bot.procedures.compiled import open_catalogue; from pathlib import Path; "
        f"print(open_catalogue(Path({str(folder)!r})).origin)"
    )
    assert run("-c", probe, tmp=tmp_path).stdout.strip() == b"cache"


def loaded(code: str, tmp: Path) -> set[str]:
    done = run("-c", code + "; import sys, json; print(json.dumps(sorted(sys.modules)), file=sys.stderr)", tmp=tmp)
    return {m.split(".")[0] for m in json.loads(done.stderr.decode().strip().splitlines()[-1])}


def test_importing_the_cli_loads_no_channel_or_export_library(tmp_path: Path) -> None:
    assert loaded("import bot.cli", tmp_path).isdisjoint(HEAVY)


def ask_code(tmp: Path, *options: str) -> str:
    args = [*options, "--db", str(tmp / "db.sqlite3"), "ask", "khai sinh cần gì"]
    return (
        "import io, contextlib, bot.cli; "
        "out = io.StringIO(); contextlib.redirect_stdout(out).__enter__(); "
        f"rc = bot.cli.main({args!r}); "
        "assert rc == 0 and 'khai sinh' in out.getvalue().lower()"
    )


def test_ask_loads_no_messenger_library(tmp_path: Path) -> None:
    modules = loaded(ask_code(tmp_path), tmp_path)  # seeds the demo dossiers
    assert "bot" in modules
    assert modules.isdisjoint({"telegram", "aiohttp", "tornado", "rank_bm25", "openpyxl"})


def test_ask_without_demo_data_loads_no_export_reader_either(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("status:\n  demo_data: null\n", encoding="utf-8")
    modules = loaded(ask_code(tmp_path, "--config", str(config)), tmp_path)
    assert "bot" in modules and modules.isdisjoint(HEAVY)
