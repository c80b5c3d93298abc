"""``motcua admin``: serve the back office alone, or create a staff account
(``motcua admin adduser NAME [--commune ID | --province]``)."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from dataclasses import replace
from typing import TextIO

from bot.backoffice.accounts import PROVINCE, AccountError, AccountStore
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


def account_commune(config: Config, commune: str | None, province: bool) -> str:
    """The commune of a new account: ``commune`` (an id of ``communes:``), the province
    (:data:`~bot.backoffice.accounts.PROVINCE`), or '' in a one-commune install. Raises
    MotcuaError (one line) when ``communes:`` needs one and none is given, or the id is
    not one of them."""
    if commune is not None and province:
        raise MotcuaError("adduser: give --commune ID or --province, not both")
    if province:
        return PROVINCE
    ids = [entry.id for entry in config.communes]
    if not ids:
        if commune is not None:
            raise MotcuaError(f"adduser: --commune {commune}: the config has no communes: list (one commune)")
        return ""
    if commune is None:
        raise MotcuaError(
            "adduser: the config lists communes: give --commune ID (one of " + ", ".join(ids)
            + ") or --province for a provincial administrator"
        )
    if commune not in ids:
        raise MotcuaError(f"adduser: --commune {commune}: not an id of communes: (" + ", ".join(ids) + ")")
    return commune


async def add_user(config: Config, name: str, password: str, commune: str = "") -> None:
    """Create the staff account ``name`` of ``commune`` in the bot's database (and log
    it, under that commune)."""
    store = await AccountStore.open(config.database.path, config.database.url)
    try:
        try:
            await store.add(name, password, commune)
        except AccountError as exc:
            raise MotcuaError(str(exc)) from None
        audit = await AuditLog.create(store.db)
        await audit.record("motcua admin", "account.add", name, commune=commune)
    finally:
        await store.close()


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
