"""A local fake of the Telegram Bot API, for end-to-end tests of the Telegram channel.

It serves ``/bot<token>/<method>`` on 127.0.0.1 (a free port), keeps a queue of updates
that tests push and ``getUpdates`` long-polls, records every call, and answers the
methods the channel uses. Failures are scripted per method (:meth:`FakeTelegramApi.fail`),
and chats in :attr:`FakeTelegramApi.blocked_chats` answer ``sendMessage`` with 403 as
Telegram does for a user who blocked the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import serve_locally

BOT_ID = 7000001
BOT_USERNAME = "motcua_test_bot"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Một cửa", "username": BOT_USERNAME}


@dataclass(frozen=True)
class Call:
    """One request the channel made: the method and its decoded parameters."""

    method: str
    params: dict[str, Any]
    #: When the fake received it (``time.monotonic()``), for tests of send rates.
    at: float = field(default_factory=time.monotonic, compare=False)


@dataclass
class _Failure:
    status: int
    body: dict[str, Any] | None
    #: An HTML error page instead of JSON (a proxy's), quoting the request's URL.
    page: bool = False


@dataclass
class FakeTelegramApi:
    """The fake server; use ``async with FakeTelegramApi(token) as api`` and ``api.base_url``."""

    token: str
    calls: list[Call] = field(default_factory=list)
    #: Chat ids (as text) that answer sendMessage with 403 Forbidden.
    blocked_chats: set[str] = field(default_factory=set)
    #: Every message sendMessage returned, as Telegram returned it (tests reply to them).
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1001)
        self._changed = asyncio.Condition()
        self._failures: dict[str, list[_Failure]] = {}
        self._chat_types: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegramApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.port = await serve_locally(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self._closing = True
            self._changed.notify_all()  # release long polls so the server can close
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """The value for ``channels.telegram.base_url``."""
        return f"http://127.0.0.1:{self.port}/bot"

    # -- scripting -------------------------------------------------------------------

    def fail_with_page(self, method: str, status: int = 502) -> None:
        """Make the next call of ``method`` get an HTML error page that quotes the
        request's URL, token included, as a misconfigured proxy would."""
        self._failures.setdefault(method, []).append(_Failure(status, None, page=True))

    async def push_raw(self, update: dict[str, Any]) -> int:
        """Queue ``update`` as given (it may be malformed), with a new update_id."""
        update = {"update_id": next(self._update_ids), **update}
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update["update_id"]

    def fail(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """Make the next call of ``method`` fail with ``status`` (once per call of this)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._failures.setdefault(method, []).append(_Failure(status, body))

    async def push(self, update: dict[str, Any]) -> int:
        """Queue an update (without ``update_id``) for getUpdates; return its update_id."""
        update = {"update_id": next(self._update_ids), **update}
        self._remember_chat(update)
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update["update_id"]

    def make_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Give ``update`` an update_id without queueing it (for webhook posts)."""
        update = {"update_id": next(self._update_ids), **update}
        self._remember_chat(update)
        return update

    def _remember_chat(self, update: dict[str, Any]) -> None:
        message = update.get("message") or (update.get("callback_query") or {}).get("message")
        if message:
            self._chat_types[str(message["chat"]["id"])] = message["chat"]["type"]

    # -- inspection ------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        """Calls of ``method`` so far, oldest first."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda c: True,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` match ``predicate``; return them."""

        def matching() -> list[Call]:
            return [c for c in self.calls_of(method) if predicate(c)]

        async def wait() -> list[Call]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(matching()) >= count)
            return matching()

        return await asyncio.wait_for(wait(), timeout)

    async def wait_consumed(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until the bot has confirmed ``update_id`` (a later getUpdates offset)."""

        def consumed() -> bool:
            return any(int(c.params.get("offset", 0)) > update_id for c in self.calls_of("getUpdates"))

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(consumed)

        await asyncio.wait_for(wait(), timeout)

    # -- the API ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await _params(request)
        async with self._changed:
            self.calls.append(Call(method, params))
            self._changed.notify_all()
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            if failure.page:
                page = f"<html><body><h1>Bad Gateway</h1><p>POST {request.url} failed</p></body></html>"
                return web.Response(status=failure.status, text=page, content_type="text/html")
            return web.json_response(failure.body, status=failure.status)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        if method == "sendMessage":
            chat_id = str(params["chat_id"])
            if chat_id in self.blocked_chats:
                return web.json_response(
                    {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
                    status=403,
                )
            message = self._message(params)
            self.sent.append(message)
            return _ok(message)
        if method == "getMe":
            return _ok(BOT_USER)
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return _ok(self._message(params))
        if method == "getWebhookInfo":
            return _ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
        return _ok(True)  # setMyCommands, setWebhook, deleteWebhook, answerCallbackQuery...

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closing and (left := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            return list(self._updates)

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": self._chat_types.get(str(chat_id), "private")},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _params(request: web.Request) -> dict[str, Any]:
    """Decode parameters the way Telegram accepts them: query, form or JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        params.update(await request.post())
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        # PTB sends nested objects (reply_markup, commands...) as JSON text in form fields.
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[key] = value
    return decoded


# -- update builders (what Telegram would send) -------------------------------------


def user(user_id: int, first_name: str = "Bác Ba") -> dict[str, Any]:
    """A Telegram User object."""
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "vi"}


def chat(chat_id: int, kind: str = "private", title: str = "Thôn Đông") -> dict[str, Any]:
    """A Telegram Chat object; ``kind`` is private, group or supergroup."""
    if kind == "private":
        return {"id": chat_id, "type": "private", "first_name": "Bác Ba"}
    return {"id": chat_id, "type": kind, "title": title}


def text_message(
    text: str,
    *,
    user_id: int = 111,
    chat_id: int | None = None,
    chat_type: str = "private",
    message_id: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """An update with a text message; bot commands and @mentions get their entities."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": chat(user_id if chat_id is None else chat_id, chat_type),
        "from": user(user_id),
        "text": text,
    }
    entities = _entities(text)
    if entities:
        message["entities"] = entities
    message.update(extra)
    return {"message": message}


def callback_query(
    data: str,
    message: dict[str, Any],
    *,
    user_id: int = 111,
    query_id: str = "cbq-1",
) -> dict[str, Any]:
    """An update for a press on an inline button of ``message`` (a message the bot sent)."""
    return {
        "callback_query": {
            "id": query_id,
            "from": user(user_id),
            "chat_instance": "ci-1",
            "data": data,
            "message": message,
        }
    }


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    """bot_command at the start and every @mention, with Telegram's UTF-16 offsets."""
    entities = []
    if text.startswith("/"):
        word = text.split(maxsplit=1)[0]
        entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(word)})
    position = 0
    for word in text.split(" "):
        if word.startswith("@") and len(word) > 1:
            mention = word.rstrip(",.:!?")
            entities.append(
                {"type": "mention", "offset": _utf16_len(text[:position]), "length": _utf16_len(mention)}
            )
        position += len(word) + 1
    return entities
