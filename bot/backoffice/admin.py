"""``motcua admin``: serve the back office alone, or create a staff account
(``motcua admin adduser NAME``)."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from dataclasses import replace
from typing import TextIO

from bot.backoffice.accounts import AccountError, AccountStore
from bot.backoffice.audit import AuditLog
from bot.config import BackofficeConfig, Config
from bot.errors import MotcuaError


def read_password(*, from_stdin: bool, stdin: TextIO | None = None) -> str:
    """The new account's password: one line of standard input, or typed twice at a
    prompt (not echoed). Raises MotcuaError when the two differ or stdin is empty."""
    if from_stdin:
        line = (stdin or sys.stdin).readline()
        password = line.rstrip("\r\n")
        if not password:
            raise MotcuaError("--password-stdin: no password on standard input")
        return password
    try:
        first = getpass.getpass("Mật khẩu mới: ")
        second = getpass.getpass("Nhập lại mật khẩu: ")
    except EOFError:
        raise MotcuaError("no password given; nothing was created") from None
    if first != second:
        raise MotcuaError("the two passwords differ; nothing was created")
    return first


async def add_user(config: Config, name: str, password: str) -> None:
    """Create the staff account ``name`` in the bot's database (and log it)."""
    store = await AccountStore.open(config.database.path)
    try:
        try:
            await store.add(name, password)
        except AccountError as exc:
            raise MotcuaError(str(exc)) from None
    finally:
        await store.close()
    audit = await AuditLog.open(config.database.path)
    try:
        await audit.record("motcua admin", "account.add", name)
    finally:
        await audit.close()


async def serve_alone(config: Config) -> int:
    """Serve the back office (without channels) until Ctrl+C or SIGTERM."""
    from bot.app import App
    from bot.backoffice.context import Backoffice
    from bot.backoffice.web import serve

    settings = config.backoffice or BackofficeConfig()
    app = await App.open(config)
    try:
        bo = await Backoffice.open(settings, app)
        try:
            if not await bo.accounts.names():
                print(
                    "motcua admin: no staff account yet; create one with `motcua admin adduser NAME`",
                    file=sys.stderr,
                )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)

            def ready(port: int) -> None:
                print(f"motcua: back office on http://{settings.listen}:{port}/ ; Ctrl+C to stop", file=sys.stderr)

            await serve(bo, stop, ready=ready)
        finally:
            await bo.close()
    finally:
        await app.close()
    return 0


def admin_config(config: Config) -> Config:
    """``config`` with a back office block (the defaults when the file has none)."""
    return config if config.backoffice is not None else replace(config, backoffice=BackofficeConfig())
