"""A local fake of the Zalo Bot API, for end-to-end tests of the Zalo client and channel.

It serves ``POST /bot<token>/<method>`` on 127.0.0.1 (a free port) and behaves like the
real API where tests depend on it: ``getUpdates`` hands out *one* queued update per call
and answers ``error_code`` 408 when its long poll times out; an unknown token gets 401;
``sendMessage`` checks the 1-2,000 character limit. It records every call and every sent
text. Failures are scripted per method (:meth:`FakeZaloApi.fail`), and chats in
:attr:`FakeZaloApi.blocked_chats` answer ``sendMessage`` with 403.

:meth:`FakeZaloApi.post_webhook` plays Zalo's side of webhook mode: it POSTs an update
to the channel's server with the ``X-Bot-Api-Secret-Token`` header.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import serve_locally

BOT_ID = "8100000000000000001"
BOT_ACCOUNT_NAME = "bot.MotCuaTanHoa"
BOT_DISPLAY_NAME = "Một cửa Tân Hòa"
SECRET_HEADER = "X-Bot-Api-Secret-Token"


@dataclass(frozen=True)
class Call:
    """One request made to the fake: the method and its JSON body."""

    method: str
    params: dict[str, Any]
    #: When the fake received it (``time.monotonic()``), for tests of send rates.
    at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class Sent:
    """One message the bot sent."""

    chat_id: str
    text: str


@dataclass
class _Failure:
    status: int
    body: dict[str, Any] | str


@dataclass
class FakeZaloApi:
    """The fake server; ``async with FakeZaloApi(token) as api`` then use ``api.base_url``."""

    token: str
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    #: Chat ids that answer sendMessage with 403 (the user blocked the bot).
    blocked_chats: set[str] = field(default_factory=set)
    #: The longest a long poll is held, whatever ``timeout`` the client asked for.
    max_poll_wait: float = 1.0
    #: The webhook set with setWebhook: ``{"url": ..., "secret_token": ...}`` or None.
    webhook: dict[str, str] | None = None
    #: How many long polls ended with 408 (no update).
    poll_timeouts: int = 0
    #: Updates handed out by getUpdates, in order (the API forgets them once answered).
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._failures: dict[str, list[_Failure]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> FakeZaloApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.port = await serve_locally(app)
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        async with self._changed:
            self._closing = True
            self._changed.notify_all()  # release long polls so the server can close
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """The value for ``channels.zalo.base_url``."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------

    async def push(self, update: dict[str, Any]) -> None:
        """Queue an update for ``getUpdates`` (in the flat ``{event_name, message}`` shape)."""
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    def fail(
        self,
        method: str,
        error_code: int,
        description: str = "",
        *,
        times: int = 1,
        http_status: int = 200,
        raw_body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``error_code``.

        The real API answers errors as HTTP 200 with ``ok: false``; ``http_status`` and
        ``raw_body`` (a non-JSON body) imitate proxies and outages.
        """
        body: dict[str, Any] | str = (
            raw_body
            if raw_body is not None
            else {"ok": False, "error_code": error_code, "description": description}
        )
        self._failures.setdefault(method, []).extend(
            _Failure(http_status, body) for _ in range(times)
        )

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds (checked after every request); fail after ``timeout``."""

        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(check(), timeout)

    async def wait_sent(self, count: int, timeout: float = 5.0) -> list[Sent]:
        """Wait until at least ``count`` messages were sent; return all sent so far."""
        await self.wait_for(lambda: len(self.sent) >= count, timeout)
        return list(self.sent)

    def methods(self) -> list[str]:
        """The methods called so far, in order."""
        return [c.method for c in self.calls]

    async def post_webhook(
        self, url: str, body: dict[str, Any] | str, secret: str | None
    ) -> tuple[int, str]:
        """POST ``body`` to the channel's webhook at ``url`` as Zalo would; returns
        (HTTP status, body text). ``secret=None`` sends no secret header."""
        assert self._session is not None, "use the fake as an async context manager"
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        if isinstance(body, str):
            headers["Content-Type"] = "application/json"
            request = self._session.post(url, data=body, headers=headers)
        else:
            request = self._session.post(url, json=body, headers=headers)
        async with request as response:
            return response.status, await response.text()

    # -- update builders -----------------------------------------------------------------

    def message(
        self,
        chat_id: str,
        text: str | None = None,
        *,
        event: str = "message.text.received",
        user_id: str | None = None,
        chat_type: str = "PRIVATE",
        message_id: str | None = None,
        display_name: str = "Nguyễn Văn A",
        **extra: Any,
    ) -> dict[str, Any]:
        """A flat update ``{event_name, message}`` from ``chat_id``."""
        message: dict[str, Any] = {
            "message_id": message_id or f"m{next(self._message_ids)}",
            "date": int(time.time() * 1000),
            "chat": {"id": chat_id, "chat_type": chat_type},
            "from": {"id": user_id or chat_id, "display_name": display_name, "is_bot": False},
            **extra,
        }
        if text is not None:
            message["text"] = text
        return {"event_name": event, "message": message}

    # -- the API -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            params = {}
        if not isinstance(params, dict):
            params = {}
        async with self._changed:
            self.calls.append(Call(method, params))
            self._changed.notify_all()
        try:
            return await self._answer(request, method, params)
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _answer(self, request: web.Request, method: str, params: dict[str, Any]) -> web.Response:
        if request.method != "POST":
            return _error(405, "Method Not Allowed", http_status=405)
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            if isinstance(failure.body, str):
                return web.Response(status=failure.status, text=failure.body)
            return web.json_response(failure.body, status=failure.status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            {
                "id": BOT_ID,
                "account_name": BOT_ACCOUNT_NAME,
                "display_name": BOT_DISPLAY_NAME,
                "account_type": "BASIC",
                "can_join_groups": True,
            }
        )

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        try:
            wait = min(float(params.get("timeout", 30)), self.max_poll_wait)
        except (TypeError, ValueError):
            return _error(400, "Bad Request: timeout")
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._updates) or self._closing), wait
                )
                if self._closing:
                    raise TimeoutError
            except TimeoutError:
                self.poll_timeouts += 1
                self._changed.notify_all()
                return _error(408, "Request timeout")
            update = self._updates.pop(0)
            self.delivered.append(update)
        return _ok(update)

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        text = params.get("text")
        if not chat_id or not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return _error(400, "Bad Request: text must be 1-2000 characters")
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: the user cannot receive messages from this bot")
        self.sent.append(Sent(chat_id, text))
        return _ok({"message_id": f"s{len(self.sent)}", "date": int(time.time() * 1000)})

    async def _api_sendChatAction(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url:
            return _error(400, "Bad Request: url")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return _error(400, "Bad Request: secret_token must be 8-256 characters")
        self.webhook = {"url": url, "secret_token": secret}
        return _ok({"url": url, "updated_at": int(time.time() * 1000)})

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok({"url": "", "updated_at": int(time.time() * 1000)})

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> web.Response:
        return _ok({"url": self.webhook["url"] if self.webhook else ""})


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, *, http_status: int = 200) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=http_status
    )
