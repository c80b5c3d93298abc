"""PostgreSQL as the bot sees it: ``database.url`` in the config, the assembled App, the
``motcua`` command, and the driver imported only when a URL is configured."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.messages import Incoming
from tests.dossiers.test_sync import ROWS, write_csv

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_database_url_is_read_with_its_password_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'database:\n  url: "postgresql://bot:${PW}@db.example/motcua"\n')
    config = load_config(path, environ={"PW": "hunter2"})
    assert config.database.url == "postgresql://bot:hunter2@db.example/motcua"
    assert config.database.path == tmp_path / "data" / "motcua.sqlite3"  # still set, unused
    assert load_config(write_config(tmp_path, "commune:\n  name: X\n")).database.url is None


def test_a_database_url_that_is_not_postgresql_names_file_line_and_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, "commune:\n  name: X\ndatabase:\n  url: mysql://db/x\n")
    with pytest.raises(ConfigError, match=r"config.yaml:4: database.url: expected a postgresql:// URL"):
        load_config(path)


def test_sqlite_never_imports_the_postgresql_driver(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from bot.app import App\n"
        "from bot.dossiers.store import open_store\n"
        "async def main():\n"
        f"    store = await open_store(Path({str(tmp_path / 'x.sqlite3')!r}))\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def test_the_app_on_postgresql_seeds_and_answers(pg_server, config: Config) -> None:
    url = pg_server.new_database()
    try:
        app = await App.open(replace(config, database=replace(config.database, url=url)))
        try:
            assert type(app.store).__name__ == "PgStore"
            assert await app.store.count() > 10  # the demo export, seeded into PostgreSQL
            response = await app.engine.handle(Incoming("telegram", "u1", "c1", "tra cứu hồ sơ 251120-0001"))
            text = response.replies[0].text
            assert "Đăng ký khai sinh" in text and "Nguyễn V. A." in text and "0912" not in text
            followed = await app.engine.handle(Incoming("telegram", "u1", "c1", "theo dõi 261128-0002"))
            assert followed.replies
            assert await app.store.follows_of("telegram", "u1") == ["000.00.14.H56-261128-0002"]
        finally:
            await app.close()
        # No dossier went to the SQLite file (the staff side's tables still live there:
        # they move to PostgreSQL with the province's tenants).
        if config.database.path.exists():
            with sqlite3.connect(config.database.path) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert not tables & {"dossiers", "status_history", "follows", "outbox"}
    finally:
        pg_server.drop_database(url)


def test_motcua_sync_and_report_on_postgresql(pg_server, tmp_path: Path) -> None:
    url = pg_server.new_database()
    try:
        password_url = url.replace("motcua@", "motcua:not-checked-pw@")  # trust auth ignores it
        config = write_config(tmp_path, 'database:\n  url: "${MOTCUA_TEST_DB}"\n')
        env = {**os.environ, "MOTCUA_TEST_DB": password_url, "PYTHONPATH": str(ROOT)}

        def motcua(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "bot.cli", "--config", str(config), *args],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
            )

        src = write_csv(tmp_path / "export.csv", ROWS)
        dry = motcua("sync", "--dry-run", str(src))
        assert dry.returncode == 0 and "thêm mới 3" in dry.stdout, dry.stderr
        done = motcua("sync", str(src))
        assert done.returncode == 0 and "thêm mới 3" in done.stdout, done.stderr
        again = motcua("sync", str(src))
        assert "không đổi 3" in again.stdout
        report = motcua("report", "--json")
        assert report.returncode == 0, report.stderr
        for out in (dry, done, again, report):
            assert "not-checked-pw" not in out.stdout + out.stderr
        # A server that is not there: one line naming the URL without its password.
        env["MOTCUA_TEST_DB"] = "postgresql://motcua:not-checked-pw@127.0.0.1:1/none"
        down = motcua("sync", str(src))
        assert down.returncode == 2 and "127.0.0.1:1/none" in down.stderr
        assert "not-checked-pw" not in down.stderr and "Traceback" not in down.stderr
    finally:
        pg_server.drop_database(url)


def test_a_postgresql_url_without_the_driver_installed_is_a_one_line_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'database:\n  url: "postgresql://motcua@127.0.0.1:1/x"\n')
    # The driver is made unimportable, as in an installation without the extra.
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from bot.cli import main\n"
        f"sys.argv = ['motcua', '--config', {str(config)!r}, 'report']\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "pip install 'motcua-bot[postgres]'" in done.stderr and "Traceback" not in done.stderr
