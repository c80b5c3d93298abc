"""A small asyncio client for the Zalo Bot API (``bot-api.zaloplatforms.com``).

The API is modelled on Telegram's: ``POST <base_url>/bot<TOKEN>/<method>`` with a JSON
body, answered with ``{ok, result, description, error_code}``. Differences that matter:
``getUpdates`` returns at most *one* update per call and answers ``error_code`` 408 when
its long poll times out; there are no buttons; a text message is 1-2,000 characters.

Exceptions, all subclasses of :class:`ZaloError`::

    ZaloError
    ├── ZaloNetworkError        the request never got an answer (connect, read, TLS)
    └── ZaloApiError            the API answered ok=false (or a non-JSON HTTP error)
        ├── ZaloTimeout         408: a long poll ended without an update
        ├── ZaloUnauthorized    401: the bot token is invalid or revoked
        ├── ZaloForbidden       403: not allowed, e.g. the user cannot be messaged
        └── ZaloRateLimited     429: quota exceeded

The token is part of every URL path, so the client never lets it reach a log line or
an exception message: requests are built with a masked path (``bot1234:***``) and the
real token is put in only by the transport, below httpx's own request logging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

log = logging.getLogger(__name__)

#: The current API host; ``https://bot-api.zapps.me`` is an older name of the same API.
DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"

#: The longest text ``sendMessage`` accepts, in characters.
MAX_TEXT_LENGTH = 2000

#: Seconds added to a long poll's own timeout before the HTTP request itself gives up.
POLL_GRACE = 10.0

EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"


def mask_token(token: str) -> str:
    """A form of ``token`` safe to print: the bot id before ``:`` kept, the secret hidden."""
    bot_id, sep, _ = token.partition(":")
    return f"{bot_id}:***" if sep and bot_id.isdigit() else "***"


class ZaloError(Exception):
    """Base class of everything this client raises."""


class ZaloNetworkError(ZaloError):
    """The request got no answer: connection refused, DNS, TLS, or a read timeout."""


class ZaloApiError(ZaloError):
    """The API refused a call: ``ok`` was false, or the HTTP status was an error.

    ``error_code`` is the API's code (an HTTP-like number); ``description`` its text.
    """

    def __init__(
        self, method: str, error_code: int, description: str = "", retry_after: float | None = None
    ) -> None:
        self.method = method
        self.error_code = error_code
        self.description = description
        #: Seconds the API asked us to wait, when it said so (429).
        self.retry_after = retry_after
        detail = f": {description}" if description else ""
        super().__init__(f"{method} failed with error {error_code}{detail}")


class ZaloTimeout(ZaloApiError):
    """408: a ``getUpdates`` long poll ended with no update (not a failure)."""


class ZaloUnauthorized(ZaloApiError):
    """401: the bot token is invalid or was revoked."""


class ZaloForbidden(ZaloApiError):
    """403: the bot may not do this, e.g. message a user who blocked it."""


class ZaloRateLimited(ZaloApiError):
    """429: the bot's quota is exceeded; retry later."""


_ERROR_CLASSES: dict[int, type[ZaloApiError]] = {
    401: ZaloUnauthorized,
    403: ZaloForbidden,
    408: ZaloTimeout,
    429: ZaloRateLimited,
}


def api_error(
    method: str, error_code: int, description: str = "", retry_after: float | None = None
) -> ZaloApiError:
    """The :class:`ZaloApiError` subclass for ``error_code``."""
    cls = _ERROR_CLASSES.get(error_code, ZaloApiError)
    return cls(method, error_code, description, retry_after)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry 429s, 5xx answers and network errors.

    ``attempts`` counts the first try; the delay before retry *n* (from 0) is
    ``base_delay * 2**n`` with a little jitter, at most ``max_delay`` seconds.
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.max_delay)
        backoff = self.base_delay * (2**retry)
        return min(backoff * random.uniform(1.0, 1.25), self.max_delay)


def _retryable(exc: ZaloError) -> bool:
    if isinstance(exc, ZaloNetworkError | ZaloRateLimited):
        return True
    return isinstance(exc, ZaloApiError) and exc.error_code >= 500


# ---------------------------------------------------------------------------------------
# Values


def _str(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class BotInfo:
    """The bot itself, from ``getMe``."""

    id: str
    #: The account name, e.g. ``bot.VDKyGxQvc``.
    account_name: str = ""
    #: The name users see (when the API reports one).
    display_name: str = ""
    can_join_groups: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BotInfo:
        """Build from a ``getMe`` result; unknown keys are ignored."""
        return cls(
            id=_str(data.get("id")),
            account_name=_str(data.get("account_name") or data.get("username")),
            display_name=_str(data.get("display_name") or data.get("name")),
            can_join_groups=bool(data.get("can_join_groups", False)),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The names users may mention the bot by in a group (non-empty ones)."""
        return tuple(n for n in (self.display_name, self.account_name) if n)


@dataclass(frozen=True)
class Chat:
    """The conversation a message belongs to."""

    id: str
    chat_type: str = "PRIVATE"

    @property
    def is_group(self) -> bool:
        """True for group chats, where the bot answers only when addressed."""
        return self.chat_type.upper() == "GROUP"


@dataclass(frozen=True)
class Sender:
    """Who sent a message. ``display_name`` is personal data: never log it."""

    id: str
    display_name: str = ""
    is_bot: bool = False


@dataclass(frozen=True)
class Message:
    """A message received by the bot. ``date`` is in milliseconds since the epoch."""

    message_id: str
    chat: Chat
    sender: Sender
    date: int = 0
    text: str = ""
    caption: str = ""
    photo_url: str = ""
    sticker: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """Build from the API's ``message`` object; raises ``ValueError`` if malformed."""
        chat = data.get("chat")
        sender = data.get("from")
        if not isinstance(chat, Mapping) or not isinstance(sender, Mapping):
            raise ValueError("message without chat or from")
        try:
            date = int(data.get("date") or 0)
        except (TypeError, ValueError):
            date = 0
        return cls(
            message_id=_str(data.get("message_id")),
            chat=Chat(id=_str(chat.get("id")), chat_type=_str(chat.get("chat_type")) or "PRIVATE"),
            sender=Sender(
                id=_str(sender.get("id")),
                display_name=_str(sender.get("display_name") or sender.get("name")),
                is_bot=bool(sender.get("is_bot", False)),
            ),
            date=date,
            text=_str(data.get("text")),
            caption=_str(data.get("caption")),
            photo_url=_str(data.get("photo_url") or data.get("photo")),
            sticker=_str(data.get("sticker")),
        )

    def to_json(self) -> dict[str, Any]:
        """The API's ``message`` object for this message (:meth:`from_json` reads it back)."""
        return {
            "message_id": self.message_id,
            "chat": {"id": self.chat.id, "chat_type": self.chat.chat_type},
            "from": {"id": self.sender.id, "display_name": self.sender.display_name, "is_bot": self.sender.is_bot},
            "date": self.date,
            "text": self.text,
            "caption": self.caption,
            "photo_url": self.photo_url,
            "sticker": self.sticker,
        }


@dataclass(frozen=True)
class Update:
    """One event delivered by ``getUpdates`` or to the webhook."""

    event_name: str
    message: Message | None = None

    @classmethod
    def from_json(cls, data: Any) -> Update:
        """Parse an update. Accepts the flat shape ``{event_name, message}`` and the
        wrapped one ``{ok, result: {event_name, message}}``; raises ``ValueError``."""
        if isinstance(data, Mapping) and "event_name" not in data and isinstance(
            data.get("result"), Mapping
        ):
            data = data["result"]
        if not isinstance(data, Mapping) or not isinstance(data.get("event_name"), str):
            raise ValueError("not a Zalo update: no event_name")
        raw_message = data.get("message")
        message = Message.from_json(raw_message) if isinstance(raw_message, Mapping) else None
        return cls(event_name=data["event_name"], message=message)

    def to_json(self) -> dict[str, Any]:
        """The flat ``{event_name, message}`` shape (:meth:`from_json` reads it back)."""
        data: dict[str, Any] = {"event_name": self.event_name}
        if self.message is not None:
            data["message"] = self.message.to_json()
        return data

    @property
    def is_text(self) -> bool:
        """True for a text message."""
        return self.event_name == EVENT_TEXT


@dataclass(frozen=True)
class WebhookInfo:
    """The webhook currently registered (``url`` is empty when none is)."""

    url: str = ""
    updated_at: int = 0


# ---------------------------------------------------------------------------------------
# Client


class _TokenTransport(httpx.AsyncBaseTransport):
    """Puts the real token into the URL path just before the request leaves.

    httpx logs and reports the request it was given, which carries only the masked
    token; this transport sends a copy with the real one.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, masked: str, token: str) -> None:
        self._inner = inner
        self._masked = f"/bot{masked}/"
        self._real = f"/bot{token}/"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii")
        real = request.url.copy_with(raw_path=path.replace(self._masked, self._real, 1).encode("ascii"))
        sent = httpx.Request(
            request.method,
            real,
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(sent)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ZaloBotClient:
    """Calls the Zalo Bot API for one bot token.

    Use as ``async with ZaloBotClient(token) as client: ...`` or call :meth:`aclose`.
    Rate limits (429), server errors (5xx) and network errors are retried per ``retry``;
    every failure raises a :class:`ZaloError`.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not token or "/" in token or any(c.isspace() for c in token):
            raise ValueError("a Zalo bot token is a non-empty string without '/' or spaces")
        self._token = token
        self._masked = mask_token(token)
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._base = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            transport=_TokenTransport(httpx.AsyncHTTPTransport(), self._masked, token),
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"ZaloBotClient(base_url={self._base!r}, token={self._masked!r})"

    async def __aenter__(self) -> ZaloBotClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, self._masked)

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Call ``method`` with JSON ``params`` and return its ``result``, retrying
        transient failures; raises :class:`ZaloError`."""
        for retry in range(self._retry.attempts):
            try:
                return await self._call_once(method, params, timeout)
            except ZaloError as exc:
                if not _retryable(exc) or retry + 1 >= self._retry.attempts:
                    raise
                wait = self._retry.delay(retry, getattr(exc, "retry_after", None))
                log.warning("zalo: %s; retrying in %.1fs", exc, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_once(
        self, method: str, params: Mapping[str, Any] | None, timeout: float | None
    ) -> Any:
        url = f"{self._base}/bot{self._masked}/{method}"
        try:
            response = await self._http.post(
                url, json=dict(params or {}), timeout=timeout if timeout is not None else self._timeout
            )
        except httpx.HTTPError as exc:
            # No chaining: the httpx exception is not ours to vet for the token.
            raise ZaloNetworkError(
                self._scrub(f"{method}: no answer from {self._base} ({type(exc).__name__}: {exc})")
            ) from None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            if response.is_success:
                raise ZaloApiError(method, response.status_code, "the answer is not JSON")
            raise api_error(method, response.status_code, response.reason_phrase)
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        if not isinstance(code, int):
            code = response.status_code if not response.is_success else 400
        retry_after = None
        parameters = body.get("parameters")
        if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
            retry_after = float(parameters["retry_after"])
        raise api_error(method, code, self._scrub(_str(body.get("description"))), retry_after)

    async def get_me(self) -> BotInfo:
        """The bot's own account; :class:`ZaloUnauthorized` when the token is rejected."""
        result = await self.call("getMe")
        if not isinstance(result, Mapping):
            raise ZaloApiError("getMe", 500, "no bot in the answer")
        return BotInfo.from_json(result)

    async def get_updates(self, timeout: float = 30.0) -> Update | None:
        """Long-poll for the next update (the API returns one at a time).

        Returns ``None`` when ``timeout`` seconds pass without one (the API's 408).
        """
        try:
            result = await self.call(
                "getUpdates", {"timeout": str(int(timeout)) if timeout >= 1 else str(timeout)},
                timeout=timeout + POLL_GRACE,
            )
        except ZaloTimeout:
            return None
        if result is None:
            return None
        try:
            return Update.from_json(result)
        except ValueError as exc:
            raise ZaloApiError("getUpdates", 500, f"malformed update ({exc})") from None

    async def send_message(self, chat_id: str, text: str) -> str:
        """Send plain ``text`` (1-2,000 characters) and return the new message's id."""
        if not text or len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"message text must be 1-{MAX_TEXT_LENGTH} characters, got {len(text)}")
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        return _str(result.get("message_id")) if isinstance(result, Mapping) else ""

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show e.g. "typing…" in the chat for a few seconds."""
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def set_webhook(self, url: str, secret_token: str) -> None:
        """Have updates POSTed to ``url`` with header ``X-Bot-Api-Secret-Token``.

        ``secret_token`` must be 8-256 characters. While a webhook is set, polling with
        :meth:`get_updates` does not receive updates.
        """
        if not 8 <= len(secret_token) <= 256:
            raise ValueError("the webhook secret token must be 8-256 characters")
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        """Remove the webhook, so that :meth:`get_updates` receives updates again."""
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> WebhookInfo:
        """The webhook currently set, if any."""
        result = await self.call("getWebhookInfo")
        if not isinstance(result, Mapping):
            return WebhookInfo()
        try:
            updated = int(result.get("updated_at") or 0)
        except (TypeError, ValueError):
            updated = 0
        return WebhookInfo(url=_str(result.get("url")), updated_at=updated)
