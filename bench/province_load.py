"""The load side of ``bench/bench_province.py``: the fake messengers that receive the
bot's replies, and the residents who POST their messages to the bot's webhooks.

The fakes are the tests' fake Telegram and Zalo Bot API servers (``tests/fakes``), with
every message the bot sends recorded per chat with the time it arrived
(:class:`Received`). A resident POSTs one update at a time, as Telegram or Zalo would
(the secret header; a refused or failed POST is sent again, the same update, as the
messengers redeliver), waits for the bot's reply to arrive at the fake server, then
sends the next. Latency is from the POST to that reply's arrival.

Replies are counted per update afterwards: every reply to a chat that arrived between
the POST of one of its updates and the POST of the next belongs to the first one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bench.province_residents import Resident
from tests.fakes import telegram_api, zalo_api

TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ZALO_HEADER = zalo_api.SECRET_HEADER


class Received:
    """Every message the bot sent, per chat id (text), in arrival order, with its time."""

    def __init__(self) -> None:
        self.by_chat: dict[str, list[tuple[float, str]]] = {}
        self._waiting: dict[str, tuple[int, asyncio.Future[float]]] = {}
        self.last_at = time.perf_counter()

    def record(self, chat: str, text: str) -> None:
        """One message arrived for ``chat``."""
        now = time.perf_counter()
        got = self.by_chat.setdefault(chat, [])
        got.append((now, text))
        self.last_at = now
        waiting = self._waiting.get(chat)
        if waiting is not None and len(got) >= waiting[0] and not waiting[1].done():
            waiting[1].set_result(now)

    def count(self, chat: str) -> int:
        """How many messages ``chat`` has received."""
        return len(self.by_chat.get(chat, ()))

    async def wait_count(self, chat: str, count: int, timeout: float) -> float | None:
        """The time ``chat`` had received ``count`` messages; None after ``timeout`` s."""
        got = self.by_chat.get(chat, [])
        if len(got) >= count:
            return got[count - 1][0]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[chat] = (count, future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(chat, None)

    async def quiet(self, seconds: float, limit: float, done: Callable[[], bool] = lambda: True) -> bool:
        """Wait until ``done()`` holds and nothing arrived for ``seconds``; False when
        that did not happen within ``limit`` seconds."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            if done() and time.perf_counter() - self.last_at >= seconds:
                return True
            await asyncio.sleep(0.2)
        return False


class FakeTelegram(telegram_api.FakeTelegramApi):
    """The tests' fake Telegram Bot API, recording each sent message in ``received``."""

    def __init__(self, token: str, received: Received) -> None:
        super().__init__(token)
        self.received = received

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if request.match_info["method"] == "sendMessage" and response.status == 200:
            result = json.loads(response.body)["result"]  # type: ignore[arg-type]
            self.received.record(str(result["chat"]["id"]), result["text"])
        return response


class FakeZalo(zalo_api.FakeZaloApi):
    """The tests' fake Zalo Bot API, recording each sent message in ``received``."""

    def __init__(self, token: str, received: Received) -> None:
        super().__init__(token)
        self.received = received

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._api_sendMessage(params)
        if json.loads(response.body).get("ok"):  # type: ignore[arg-type]
            self.received.record(str(params["chat_id"]), params["text"])
        return response


@dataclass(frozen=True)
class Hook:
    """Where a channel's webhook listens and the secret it expects."""

    url: str
    header: str
    secret: str


@dataclass
class Sent:
    """One update a resident sent: when (POST started), how many messages the chat had
    received just before, when its reply arrived (None: not within the wait) and how
    many POSTs it took."""

    resident: int
    step: int
    posted_at: float
    before: int
    replied_at: float | None = None
    posts: int = 1


@dataclass
class Load:
    """What one drive did."""

    sent: list[Sent] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    #: POSTs that failed (connection refused or reset, or not 200) and were sent again.
    retried: int = 0

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def latencies(self) -> list[float]:
        """Seconds from POST to reply of every update that got one in time."""
        return sorted(s.replied_at - s.posted_at for s in self.sent if s.replied_at is not None)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of sorted ``values`` (nearest rank); nan when empty."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))]


class Residents:
    """Drives residents through the webhooks of both channels."""

    def __init__(
        self,
        hooks: dict[str, Hook],
        received: Received,
        telegram: FakeTelegram,
        zalo: FakeZalo,
        *,
        reply_timeout: float = 60.0,
    ) -> None:
        self._hooks = hooks
        self._received = received
        self._telegram = telegram
        self._zalo = zalo
        self._reply_timeout = reply_timeout
        self._message_ids: dict[str, int] = {}

    def update(self, resident: Resident, text: str) -> dict[str, Any]:
        """The update Telegram or Zalo would POST for ``text`` from ``resident``."""
        if resident.channel == "telegram":
            number = self._message_ids[resident.user_id] = self._message_ids.get(resident.user_id, 0) + 1
            return self._telegram.make_update(
                telegram_api.text_message(text, user_id=int(resident.user_id), message_id=number)
            )
        return self._zalo.message(resident.user_id, text, display_name="Người dân")

    async def post(self, session: aiohttp.ClientSession, channel: str, body: dict[str, Any], load: Load) -> int:
        """POST ``body`` until the bot accepts it (HTTP 200); the number of POSTs."""
        hook = self._hooks[channel]
        for attempt in range(1, 200):
            try:
                async with session.post(hook.url, json=body, headers={hook.header: hook.secret}) as response:
                    await response.read()
                    if response.status == 200:
                        return attempt
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            load.retried += 1
            await asyncio.sleep(min(0.1 * 2 ** min(attempt, 5), 2.0))
        raise RuntimeError(f"{channel} webhook refused an update 200 times")

    async def converse(
        self, session: aiohttp.ClientSession, resident: Resident, load: Load, progress: Callable[[], None]
    ) -> None:
        """One resident's conversation, one message at a time."""
        for number, step in enumerate(resident.steps):
            body = self.update(resident, step.text)
            sent = Sent(resident.index, number, time.perf_counter(), self._received.count(resident.user_id))
            load.sent.append(sent)
            sent.posts = await self.post(session, resident.channel, body, load)
            sent.replied_at = await self._received.wait_count(resident.user_id, sent.before + 1, self._reply_timeout)
            progress()

    async def drive(
        self,
        residents: Sequence[Resident],
        concurrency: int,
        on_progress: Callable[[int], None] = lambda done: None,
    ) -> Load:
        """All ``residents``' conversations, ``concurrency`` residents at a time."""
        load = Load()
        queue = list(reversed(residents))
        done = 0

        def progress() -> None:
            nonlocal done
            done += 1
            on_progress(done)

        async def worker(session: aiohttp.ClientSession) -> None:
            while queue:
                await self.converse(session, queue.pop(), load, progress)

        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            load.started = time.perf_counter()
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
            load.ended = time.perf_counter()
        return load
