"""Fixtures of the back office tests: a bot on a temporary database, its back office
with one staff account, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.backoffice.context import Backoffice
from bot.backoffice.web import create_app
from bot.config import BackofficeConfig, Config

STAFF, PASSWORD = "can-bo.lan", "mat-khau-rat-dai-2026"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


@dataclass
class Served:
    """A running back office: its state, its base URL."""

    bo: Backoffice
    url: str


@pytest.fixture
def bo_config() -> BackofficeConfig:
    """Plain http on 127.0.0.1 (no Secure cookies), 5 failures lock for 15 minutes."""
    return BackofficeConfig(listen="127.0.0.1", port=0, secure_cookies=False)


@pytest.fixture
async def served(config: Config, bo_config: BackofficeConfig) -> AsyncIterator[Served]:
    """The back office of a bot on a temporary database, with the account STAFF."""
    config = replace(config, backoffice=bo_config)
    app = await App.open(config)
    bo = await Backoffice.open(bo_config, app)
    await bo.accounts.add(STAFF, PASSWORD)
    server = TestServer(create_app(bo), host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(bo, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()
        await bo.close()
        await app.close()


async def login(http: ClientSession, url: str, name: str = STAFF, password: str = PASSWORD):
    """Log in through the form; returns the response after redirects."""
    async with http.get(f"{url}/login") as page:
        token = csrf_of(await page.text())
    return await http.post(f"{url}/login", data={"csrf": token, "name": name, "password": password})
