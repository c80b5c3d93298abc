"""The guarded webhook server on its own: secret, size and time limits, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.webhook import WebhookServer, secret_matches

SECRET = "s3cret-webhook-token"
HEADER = "X-Secret"


@pytest.fixture
async def server() -> AsyncIterator[tuple[WebhookServer, list[Any]]]:
    received: list[Any] = []

    async def handler(data: Any) -> int:
        received.append(data)
        return 200 if isinstance(data, dict) else 400

    hook = WebhookServer(
        channel="test", path="/hook", secret_header=HEADER, secret=SECRET, handler=handler,
        max_body=1000, read_timeout=0.3,
    )
    await hook.start("127.0.0.1", 0)
    yield hook, received
    await hook.stop()


async def request(port: int | None, head: dict[str, str], body: bytes = b"") -> bytes:
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    writer.write(f"POST /hook HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode() + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_secret_matches() -> None:
    assert secret_matches(SECRET, SECRET)
    assert not secret_matches(SECRET[:-1], SECRET)
    assert not secret_matches(None, SECRET)
    assert not secret_matches("", "")  # no secret configured never matches
    assert not secret_matches("bí mật", SECRET)


async def test_a_body_that_trickles_in_is_given_up(server: tuple[WebhookServer, list[Any]]) -> None:
    hook, received = server
    head = {HEADER: SECRET, "Content-Length": "500", "Connection": "close"}
    answer = await request(hook.port, head, b'{"a": ')  # and then nothing more
    assert answer.startswith(b"HTTP/1.1 408")
    assert received == []


async def test_limits_and_a_good_body(server: tuple[WebhookServer, list[Any]]) -> None:
    hook, received = server
    good = json.dumps({"update_id": 1}).encode()
    assert (await request(hook.port, {HEADER: "x", "Content-Length": "10"})).startswith(b"HTTP/1.1 403")
    assert (await request(hook.port, {HEADER: SECRET, "Content-Length": "1001"})).startswith(b"HTTP/1.1 413")
    bad = {HEADER: SECRET, "Content-Length": "8", "Connection": "close"}
    assert (await request(hook.port, bad, b"not json")).startswith(b"HTTP/1.1 400")
    ok = {HEADER: SECRET, "Content-Length": str(len(good)), "Connection": "close"}
    assert (await request(hook.port, ok, good)).startswith(b"HTTP/1.1 200")
    assert received == [{"update_id": 1}]
