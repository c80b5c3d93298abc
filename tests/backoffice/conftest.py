"""Fixtures of the back office tests: a bot on a temporary database, its back office
with one staff account, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.backoffice.context import Backoffice
from bot.backoffice.web import create_app
from bot.config import BackofficeConfig, Config

ROOT = Path(__file__).resolve().parents[2]
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


@asynccontextmanager
async def open_served(config: Config, bo_config: BackofficeConfig, **kwargs) -> AsyncIterator[Served]:
    """The back office of a bot on ``config``, with the account STAFF, on 127.0.0.1."""
    config = replace(config, backoffice=bo_config)
    app = await App.open(config)
    bo = await Backoffice.open(bo_config, app, **kwargs)
    await bo.accounts.add(STAFF, PASSWORD)
    server = TestServer(create_app(bo), host="127.0.0.1")
    await server.start_server()
    try:
        yield Served(bo, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()
        await bo.close()
        await app.close()


@pytest.fixture
async def served(config: Config, bo_config: BackofficeConfig) -> AsyncIterator[Served]:
    """The back office of a bot on a temporary database and the bundled catalogue."""
    async with open_served(config, bo_config) as running:
        yield running


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    """A copy of the bundled catalogue that a test may write to."""
    folder = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", folder, ignore=shutil.ignore_patterns(".cache"))
    return folder


@pytest.fixture
async def served_copy(config: Config, bo_config: BackofficeConfig, catalogue_copy: Path) -> AsyncIterator[Served]:
    """The back office of a bot answering from :func:`catalogue_copy`."""
    config = replace(config, catalogue=replace(config.catalogue, dir=catalogue_copy))
    async with open_served(config, bo_config) as running:
        yield running


async def login(http: ClientSession, url: str, name: str = STAFF, password: str = PASSWORD):
    """Log in through the form; returns the response after redirects."""
    async with http.get(f"{url}/login") as page:
        token = csrf_of(await page.text())
    return await http.post(f"{url}/login", data={"csrf": token, "name": name, "password": password})


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

#: Browser tests run only where the distribution's Chromium is installed.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install -y chromium; .ci/run does)"
)


@pytest.fixture
async def browser() -> AsyncIterator:
    """A fresh headless Chromium (the system's), closed after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser):
    """A page of a new browser context (its own cookies), phone-sized."""
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def log_in(page, url: str, name: str = STAFF, password: str = PASSWORD) -> None:
    """Fill in and send the login form as a person would."""
    await page.goto(f"{url}/login")
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
