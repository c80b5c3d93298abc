"""``motcua admin`` as a real process: creating accounts, serving the back office alone,
and ``motcua run`` serving it beside a channel; the ``backoffice:`` config keys."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar

from bot.backoffice.accounts import AccountStore
from bot.config import BackofficeConfig, load_config
from bot.errors import ConfigError
from tests.fakes.telegram_api import FakeTelegramApi
from tests.test_cli import ROOT, clean_env, motcua

from .conftest import csrf_of

PASSWORD = "mot-mat-khau-du-dai"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, port: int, extra: str = "") -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        f"database:\n  path: {tmp / 'cli.sqlite3'}\n{extra}"
        f"backoffice:\n  port: {port}\n  secure_cookies: false\n",
        encoding="utf-8",
    )
    return path


def test_backoffice_keys_and_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("backoffice:\n", encoding="utf-8")
    assert load_config(path).backoffice == BackofficeConfig()
    assert BackofficeConfig().listen == "127.0.0.1" and BackofficeConfig().secure_cookies is True
    path.write_text("commune: {}\n", encoding="utf-8")
    assert load_config(path).backoffice is None  # no block: not served by `motcua run`
    path.write_text("backoffice:\n  port: 9000\n  session_hours: 2\n  lockout_minutes: 30\n", encoding="utf-8")
    loaded = load_config(path).backoffice
    assert loaded is not None and (loaded.port, loaded.session_hours, loaded.lockout_minutes) == (9000, 2, 30)
    path.write_text("backoffice:\n  port: 9000\n  cookie: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml:3: backoffice.cookie: unknown key"):
        load_config(path)
    example = load_config(ROOT / "config.example.yaml", environ={}, need_tokens=False).backoffice
    assert example is not None and example.listen == "127.0.0.1" and example.secure_cookies


async def test_adduser_reads_the_password_from_stdin_and_refuses_duplicates(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    done = motcua("--config", str(config), "admin", "adduser", "can-bo.lan", "--password-stdin",
                  stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"account can-bo.lan created" in done.stdout
    again = motcua("--config", str(config), "admin", "adduser", "can-bo.lan", "--password-stdin",
                   stdin=b"another-long-password\n", tmp=tmp_path)
    assert again.returncode == 2 and b"already exists" in again.stderr and b"Traceback" not in again.stderr
    short = motcua("--config", str(config), "admin", "adduser", "can-bo.hoa", "--password-stdin",
                   stdin=b"ngan\n", tmp=tmp_path)
    assert short.returncode == 2 and b"10 to 1024 characters" in short.stderr
    bad = motcua("--config", str(config), "admin", "adduser", "cán bộ", "--password-stdin",
                 stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path)
    assert bad.returncode == 2 and b"account name" in bad.stderr
    store = await AccountStore.open(tmp_path / "cli.sqlite3")  # where motcua() keeps it
    try:
        assert await store.names() == ["can-bo.lan"]
        rows = await store.db.fetch("SELECT password_hash FROM staff_accounts")
        assert rows[0][0].startswith("$argon2id$") and PASSWORD not in rows[0][0]
    finally:
        await store.close()


async def _log_in(url: str, name: str, password: str) -> str:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        for _ in range(600):  # up to a minute: the process starts slowly on a busy machine
            try:
                async with http.get(f"{url}/login") as page:
                    token = csrf_of(await page.text())
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{url}: the back office did not start")
        async with http.post(f"{url}/login", data={"csrf": token, "name": name, "password": password}) as r:
            assert r.status == 200, await r.text()
        async with http.get(f"{url}/channels") as r:
            return await r.text()


async def _start(*args: str, tmp: Path, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=env or clean_env(tmp),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_motcua_admin_serves_the_back_office_alone_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    assert motcua("--config", str(config), "admin", "adduser", "can-bo.lan", "--password-stdin",
                  stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path).returncode == 0
    proc = await _start("--config", str(config), "admin", tmp=tmp_path)
    try:
        html = await _log_in(f"http://127.0.0.1:{port}", "can-bo.lan", PASSWORD)
        assert "Tình trạng kênh" in html and "không biết kênh có đang chạy" in html
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert f"back office on http://127.0.0.1:{port}/".encode() in err and b"Traceback" not in err


async def test_motcua_run_serves_the_back_office_beside_telegram(tmp_path: Path) -> None:
    token = "123456789:AAtest-Token_for_the_fake"
    port = free_port()
    async with FakeTelegramApi(token) as api:
        config = write_config(
            tmp_path, port,
            extra=f'channels:\n  telegram:\n    token: "${{TELEGRAM_BOT_TOKEN}}"\n    base_url: "{api.base_url}"\n',
        )
        assert motcua("--config", str(config), "admin", "adduser", "can-bo.lan", "--password-stdin",
                      stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path).returncode == 0
        env = {**clean_env(tmp_path), "TELEGRAM_BOT_TOKEN": token}
        proc = await _start("--config", str(config), "run", tmp=tmp_path, env=env)
        try:
            html = await _log_in(f"http://127.0.0.1:{port}", "can-bo.lan", PASSWORD)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    telegram = html.split("<h2>Telegram</h2>")[1].split("<h2>Zalo</h2>")[0]
    assert "Đã cấu hình" in telegram and "Đang kết nối" in telegram
    assert token.encode() not in err


COMMUNES = """\
communes:
  - id: tan-hoa
    commune: {name: "UBND xã Tân Hòa", office: "Trụ sở UBND xã Tân Hòa", hours: "Sáng 7h30–11h30", hotline: "0210 3800 111"}
    status: {code_prefix: "000.00.14.H56"}
  - id: binh-minh
    commune: {name: "UBND xã Bình Minh", office: "Trụ sở UBND xã Bình Minh", hours: "Sáng 7h00–11h00", hotline: "0210 3900 222"}
    status: {code_prefix: "000.00.15.H56"}
"""


async def test_adduser_with_communes_needs_a_commune_or_the_province(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), COMMUNES)

    def adduser(*args: str):
        return motcua("--config", str(config), "admin", "adduser", *args, "--password-stdin",
                      stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path)

    for args, said in (
        (("can-bo.lan",), b"give --commune ID (one of tan-hoa, binh-minh) or --province"),
        (("can-bo.lan", "--commune", "an-phu"), b"--commune an-phu: not an id of communes: (tan-hoa, binh-minh)"),
        (("can-bo.lan", "--commune", "tan-hoa", "--province"), b"not both"),
    ):
        done = adduser(*args)
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert b"Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert adduser("can-bo.lan", "--commune", "tan-hoa").returncode == 0
    assert adduser("tinh.admin", "--province").returncode == 0
    store = await AccountStore.open(tmp_path / "cli.sqlite3")
    try:
        assert [(a.name, a.commune) for a in await store.accounts()] == [("can-bo.lan", "tan-hoa"), ("tinh.admin", "*")]
    finally:
        await store.close()


async def test_adduser_without_communes_refuses_a_commune(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    done = motcua("--config", str(config), "admin", "adduser", "can-bo.lan", "--commune", "tan-hoa",
                  "--password-stdin", stdin=f"{PASSWORD}\n".encode(), tmp=tmp_path)
    assert done.returncode == 2 and b"the config has no communes: list" in done.stderr
