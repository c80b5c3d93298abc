"""Running `motcua run --workers N` as real processes behind one port, with the fake
Telegram and Zalo servers and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.telegram_api import FakeTelegramApi, text_message
from tests.fakes.zalo_api import FakeZaloApi

ROOT = Path(__file__).resolve().parents[2]
TG_TOKEN = "123456789:AAtest-Token_for_the_fake"
ZALO_TOKEN = "987654321:zalo-test-token"
TG_SECRET = "tg-secret-for-the-workers-test"
ZALO_SECRET = "zalo-secret-for-the-workers-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    path: Path, tmp: Path, tg: FakeTelegramApi, zalo: FakeZaloApi, port: int, url: str | None, extra: str = "",
    telegram_extra: str = "",
) -> None:
    """A config serving both channels by webhook on ``port`` (paths /tg and /zalo)."""
    database = f"database:\n  path: {tmp / 'bot.sqlite3'}\n" + (f"  url: \"{url}\"\n" if url else "")
    path.write_text(
        f"catalogue:\n  dir: {ROOT / 'procedures'}\n  reload_seconds: 0\n"
        + database
        + "channels:\n"
        f"  telegram:\n    token: \"${{TELEGRAM_BOT_TOKEN}}\"\n    base_url: {tg.base_url}\n"
        f"    webhook:\n      url: https://motcua.example.vn/tg\n      listen: 127.0.0.1\n      port: {port}\n"
        f"      secret_token: {TG_SECRET}\n"
        + telegram_extra
        + f"  zalo:\n    token: \"${{ZALO_BOT_TOKEN}}\"\n    base_url: {zalo.base_url}\n"
        f"    webhook:\n      url: https://motcua.example.vn/zalo\n      listen: 127.0.0.1\n      port: {port}\n"
        f"      secret_token: {ZALO_SECRET}\n"
        + extra,
        encoding="utf-8",
    )


@dataclass
class Province:
    """The fakes, the config, the running parent process and what it printed."""

    tg: FakeTelegramApi
    zalo: FakeZaloApi
    port: int
    url: str | None
    process: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    #: Requests sent again (no answer, or an error status).
    resent: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def wait_line(self, text: str, count: int = 1, timeout: float = 60.0) -> None:
        """Wait until ``count`` lines of the workers' stderr contain ``text``."""
        async def wait() -> None:
            while sum(line.count(text) for line in self.lines) < count:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError("motcua ended: " + "".join(self.lines))
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {count} lines with {text!r}: " + "".join(self.lines)) from None

    async def telegram(self, text: str, *, user_id: int = 111, update_id: int | None = None) -> int:
        """POST a Telegram text message to the webhook; the HTTP status."""
        update = text_message(text, user_id=user_id, message_id=next(self._ids))
        update["update_id"] = update_id if update_id is not None else next(self._ids)
        return await self.post("/tg", update, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})

    async def zalo_message(self, chat_id: str, text: str, *, message_id: str | None = None) -> int:
        """POST a Zalo text message to the webhook; the HTTP status."""
        update = self.zalo.message(chat_id, text, message_id=message_id)
        return await self.post("/zalo", update, {"X-Bot-Api-Secret-Token": ZALO_SECRET})

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> int:
        """POST as the messengers do: what got no answer (a connection waiting at a
        worker that was killed is reset) or no 200 is sent again, a few times."""
        assert self.session is not None
        status = 0
        for _ in range(30):
            try:
                async with self.session.post(
                    f"http://127.0.0.1:{self.port}{path}", json=body, headers=headers
                ) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                self.resent += 1
                await asyncio.sleep(0.2)
                continue
            if status < 500:
                return status
            self.resent += 1
            await asyncio.sleep(0.2)
        return status

    def tg_texts(self, chat_id: int) -> list[str]:
        return [c.params["text"] for c in self.tg.calls_of("sendMessage") if str(c.params["chat_id"]) == str(chat_id)]

    def zalo_texts(self, chat_id: str) -> list[str]:
        return [s.text for s in self.zalo.sent if s.chat_id == chat_id]


@asynccontextmanager
async def province(
    tmp: Path, url: str | None, *, workers: int = 2, extra: str = "", env: dict[str, str] | None = None,
    telegram_extra: str = "",
) -> AsyncIterator[Province]:
    """`motcua run --workers N` serving both fakes, stopped with SIGTERM at the end."""
    async with FakeTelegramApi(TG_TOKEN) as tg, FakeZaloApi(ZALO_TOKEN) as zalo:
        port = free_port()
        config = tmp / "config.yaml"
        write_config(config, tmp, tg, zalo, port, url, extra, telegram_extra)
        here = Province(tg, zalo, port, url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(config), "run", "--workers", str(workers),
            env={**os.environ, "TELEGRAM_BOT_TOKEN": TG_TOKEN, "ZALO_BOT_TOKEN": ZALO_TOKEN, **(env or {})}, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        here.process = process

        async def read() -> None:
            assert process.stderr is not None
            async for line in process.stderr:
                here.lines.append(line.decode("utf-8", "replace"))

        reader = asyncio.create_task(read())
        # A new connection per request: the kernel spreads them over the workers.
        here.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        try:
            await here.wait_line("serving", count=workers)
            yield here
        finally:
            await here.session.close()
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 90)
            await reader
        assert process.returncode == 0, "".join(here.lines)
        assert not any("Traceback" in line for line in here.lines), "".join(here.lines)


async def eventually(check: Any, timeout: float = 30.0, what: str = "") -> None:
    """Wait until ``check()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting: {what}")
        await asyncio.sleep(0.05)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on the workers' PostgreSQL database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params or None)
        return cur.fetchall() if cur.description else []
