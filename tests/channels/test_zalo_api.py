"""The Zalo Bot API client against a local fake of the API."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest

from bot.channels.zalo_api import (
    EVENT_STICKER,
    RetryPolicy,
    Update,
    ZaloApiError,
    ZaloBotClient,
    ZaloError,
    ZaloForbidden,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloTimeout,
    ZaloUnauthorized,
    mask_token,
)
from tests.fakes.zalo_api import BOT_ACCOUNT_NAME, BOT_DISPLAY_NAME, BOT_ID, FakeZaloApi

TOKEN = "1234567890:aBcDeFgHiJkLmNoPqRsTuVwXyZ"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def api() -> AsyncIterator[FakeZaloApi]:
    async with FakeZaloApi(TOKEN, max_poll_wait=0.2) as fake:
        yield fake


@pytest.fixture
async def client(api: FakeZaloApi) -> AsyncIterator[ZaloBotClient]:
    async with ZaloBotClient(TOKEN, base_url=api.base_url, retry=FAST) as c:
        yield c


async def test_get_me_returns_the_bot(client: ZaloBotClient) -> None:
    me = await client.get_me()
    assert me.id == BOT_ID
    assert me.account_name == BOT_ACCOUNT_NAME
    assert me.names == (BOT_DISPLAY_NAME, BOT_ACCOUNT_NAME)


async def test_a_wrong_token_raises_unauthorized(api: FakeZaloApi) -> None:
    async with ZaloBotClient("999:wrong-token-value", base_url=api.base_url, retry=FAST) as c:
        with pytest.raises(ZaloUnauthorized) as info:
            await c.get_me()
    assert info.value.error_code == 401
    assert api.methods() == ["getMe"]  # not retried


async def test_get_updates_returns_one_update_then_none_on_408(
    api: FakeZaloApi, client: ZaloBotClient
) -> None:
    await api.push(api.message("chat-1", "xin chào"))
    update = await client.get_updates(timeout=0.2)
    assert update is not None and update.is_text
    assert update.message is not None
    assert (update.message.chat.id, update.message.text) == ("chat-1", "xin chào")
    assert await client.get_updates(timeout=0.2) is None
    assert api.poll_timeouts == 1
    assert api.calls[-1].params == {"timeout": "0.2"}


async def test_send_message_posts_chat_and_text(api: FakeZaloApi, client: ZaloBotClient) -> None:
    message_id = await client.send_message("chat-1", "Chào bác")
    assert message_id == "s1"
    assert api.calls[-1].params == {"chat_id": "chat-1", "text": "Chào bác"}


async def test_send_message_refuses_empty_or_too_long_text(client: ZaloBotClient) -> None:
    with pytest.raises(ValueError):
        await client.send_message("chat-1", "")
    with pytest.raises(ValueError):
        await client.send_message("chat-1", "x" * 2001)


async def test_429_is_retried_then_succeeds(api: FakeZaloApi, client: ZaloBotClient) -> None:
    api.fail("sendMessage", 429, "Quota exceeded")
    await client.send_message("chat-1", "Chào bác")
    assert api.methods() == ["sendMessage", "sendMessage"]
    assert [s.text for s in api.sent] == ["Chào bác"]


async def test_retries_are_bounded(api: FakeZaloApi, client: ZaloBotClient) -> None:
    api.fail("sendMessage", 429, "Quota exceeded", times=10)
    with pytest.raises(ZaloRateLimited):
        await client.send_message("chat-1", "Chào bác")
    assert api.methods().count("sendMessage") == FAST.attempts


async def test_a_server_error_without_json_is_retried(api: FakeZaloApi, client: ZaloBotClient) -> None:
    api.fail("getMe", 502, http_status=502, raw_body="<html>Bad Gateway</html>")
    assert (await client.get_me()).id == BOT_ID
    assert api.methods() == ["getMe", "getMe"]


async def test_403_raises_forbidden_and_is_not_retried(api: FakeZaloApi, client: ZaloBotClient) -> None:
    api.blocked_chats.add("chat-9")
    with pytest.raises(ZaloForbidden) as info:
        await client.send_message("chat-9", "Chào bác")
    assert info.value.error_code == 403
    assert api.methods() == ["sendMessage"]


async def test_errors_form_a_hierarchy() -> None:
    for cls in (ZaloTimeout, ZaloUnauthorized, ZaloForbidden, ZaloRateLimited):
        assert issubclass(cls, ZaloApiError)
    assert issubclass(ZaloApiError, ZaloError)
    assert issubclass(ZaloNetworkError, ZaloError)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_network_errors_are_retried_and_never_show_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ZaloBotClient(TOKEN, base_url=f"http://127.0.0.1:{_closed_port()}", retry=FAST) as c:
        with pytest.raises(ZaloNetworkError) as info:
            await c.get_me()
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == FAST.attempts - 1
    assert TOKEN not in caplog.text


async def test_the_token_is_not_logged_by_httpx(
    api: FakeZaloApi, client: ZaloBotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get_me()
    api.fail("sendMessage", 429, f"quota for {TOKEN}")
    await client.send_message("chat-1", "Chào bác")
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert TOKEN not in caplog.text  # ...with the token masked
    assert mask_token(TOKEN) in caplog.text
    assert TOKEN not in repr(client)


async def test_webhook_methods(api: FakeZaloApi, client: ZaloBotClient) -> None:
    await client.set_webhook("https://bot.example.vn/zalo", "s3cret-token")
    assert api.webhook == {"url": "https://bot.example.vn/zalo", "secret_token": "s3cret-token"}
    assert (await client.get_webhook_info()).url == "https://bot.example.vn/zalo"
    await client.delete_webhook()
    assert api.webhook is None
    with pytest.raises(ValueError):
        await client.set_webhook("https://bot.example.vn/zalo", "short")


def test_update_accepts_flat_and_wrapped_bodies() -> None:
    message = {
        "message_id": "m1",
        "date": 1750316131602,
        "chat": {"id": "c1", "chat_type": "PRIVATE"},
        "from": {"id": "u1", "display_name": "Ted", "is_bot": False},
        "text": "Xin chào",
    }
    flat = Update.from_json({"event_name": "message.text.received", "message": message})
    wrapped = Update.from_json({"ok": True, "result": {"event_name": "message.text.received", "message": message}})
    assert flat == wrapped
    assert flat.message is not None and flat.message.sender.id == "u1" and flat.message.date == 1750316131602


def test_update_parsing_of_other_events_and_garbage() -> None:
    sticker = Update.from_json(
        {
            "event_name": EVENT_STICKER,
            "message": {"message_id": "m2", "chat": {"id": "g1", "chat_type": "GROUP"}, "from": {"id": "u1"}, "sticker": "abc"},
        }
    )
    assert not sticker.is_text and sticker.message is not None and sticker.message.chat.is_group
    assert Update.from_json({"event_name": "something.new"}).message is None
    for garbage in ({}, [], "x", {"ok": True, "result": None}, {"event_name": 5}):
        with pytest.raises(ValueError):
            Update.from_json(garbage)
    with pytest.raises(ValueError):
        Update.from_json({"event_name": "message.text.received", "message": {"message_id": "m3"}})


def test_a_token_with_a_slash_is_refused() -> None:
    with pytest.raises(ValueError):
        ZaloBotClient("abc/def")
