"""The Zalo channel: Zalo Bot API updates in, the engine's replies out as plain text.

Updates arrive by long polling (``getUpdates``, one update per call) or, when
``channels.zalo.webhook.url`` is set, by webhook: a small aiohttp server on
``webhook.listen:port`` at the URL's path, registered with ``setWebhook``. Zalo has no
buttons, so choices are rendered as a numbered list (the engine maps a typed "2" back to
the second choice) and long replies are split at 2,000 characters on line boundaries.

Text messages go to the engine as they are; images (their caption, if any), stickers and
other kinds go as empty text, which the engine answers with what the bot can do. In
group chats the bot answers only when addressed: a command (``/thutuc``) or a mention
of its name. Every update is handled in its own task, one chat at a time in order, so
one failing chat never holds up the others. Follow notifications are delivered by the
app's notifier with :meth:`ZaloChannel.send`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.channels.base import Channel
from bot.channels.logguard import LogGuard
from bot.channels.render import numbered_choices, split_text
from bot.channels.usage import UsageMeter
from bot.channels.webhook import WebhookHost, WebhookServer
from bot.channels.zalo_api import (
    EVENT_IMAGE,
    MAX_TEXT_LENGTH,
    BotInfo,
    RetryPolicy,
    Update,
    ZaloApiError,
    ZaloBotClient,
    ZaloError,
    ZaloForbidden,
    ZaloNetworkError,
    ZaloRateLimited,
    POLL_GRACE,
    mask_token,
)
from bot.config import ZaloConfig
from bot.delivery import channel_jobs, run_outboxes
from bot.errors import ChannelError, RecipientBlocked
from bot.messages import Incoming, Reply
from bot.procedures.wording import ReplyWriter
from bot.storage import StorageError

if TYPE_CHECKING:
    from bot.app import App
    from bot.serving.inbox import Inbox

log = logging.getLogger(__name__)

#: The header Zalo sends the webhook secret in.
SECRET_HEADER = "X-Bot-Api-Secret-Token"
#: Error codes of a push that do not mean "this chat cannot be reached": a bad token,
#: a long poll's time-out, a rate limit (retried later).
_NOT_UNDELIVERABLE = frozenset({401, 408, 429})
#: Webhook bodies above this size are refused (a message update is a few hundred bytes).
_MAX_BODY = 256 * 1024


class _Seen:
    """The most recent ``capacity`` keys, to drop redelivered updates."""

    def __init__(self, capacity: int) -> None:
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._capacity = capacity

    def add(self, key: tuple[str, str]) -> bool:
        """Remember ``key``; False if it was already there."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True


def addressed_text(text: str, bot_names: tuple[str, ...]) -> str | None:
    """In a group chat: the text meant for the bot, or None when the bot is not addressed.

    A command (``/tracuu ...``) is addressed to the bot; so is a message mentioning one
    of its names as ``@name``, which is removed from the text.
    """
    stripped = text.strip()
    if stripped.startswith("/"):
        return stripped
    for name in bot_names:
        mention = re.compile(rf"@{re.escape(name)}(?!\w)[\s,:]*", re.IGNORECASE)
        if mention.search(stripped):
            return mention.sub(" ", stripped).strip()
    return None


class ZaloChannel(Channel):
    """The Zalo messenger channel, served by ``motcua run``.

    ``ZaloChannel(config.channels.zalo, app)``; the keyword arguments exist for tests and
    tuning: ``poll_timeout`` (seconds a ``getUpdates`` long poll is held), ``retry``
    (429/network retries of each API call), ``error_backoff`` (first and longest pause
    after a failed poll), ``notify_interval`` (seconds between outbox checks),
    ``seen_capacity`` (how many message ids are remembered to drop redeliveries) and
    ``drain_timeout`` (how long :meth:`stop` waits for the answers to updates already
    received).
    """

    name = "zalo"

    def __init__(
        self,
        config: ZaloConfig,
        app: App,
        *,
        poll_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        error_backoff: tuple[float, float] = (1.0, 60.0),
        notify_interval: float = 5.0,
        seen_capacity: int = 2048,
        drain_timeout: float = 60.0,
        inbox: Inbox | None = None,
        host: WebhookHost | None = None,
        before_send: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        #: Worker mode (``motcua run --workers``): updates are stored in ``inbox`` (the
        #: workers' loops answer them), on the shared listener ``host``;
        #: ``before_send(chat_id)`` waits for the shared rate limits before each message.
        self._inbox = inbox
        self._host = host
        self.before_send = before_send
        self._config = config
        self._app = app
        self._poll_timeout = poll_timeout
        self._retry = retry or RetryPolicy()
        self._backoff_first, self._backoff_max = error_backoff
        self._notify_interval = notify_interval
        self._drain_timeout = drain_timeout
        self._seen = _Seen(seen_capacity)
        self._client: ZaloBotClient | None = None
        self._me: BotInfo | None = None
        self._stop = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None
        self._notify_task: asyncio.Task[None] | None = None
        #: Each update being handled, with its inbox id when it was handed back earlier.
        self._handlers: dict[asyncio.Task[None], tuple[Update, int | None]] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._chat_pending: dict[str, int] = {}
        self._webhook: WebhookServer | None = None
        self._log_guard: LogGuard | None = None
        self._meter: UsageMeter | None = None
        self._meter_task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def bot_info(self) -> BotInfo | None:
        """The bot's account as reported by ``getMe`` (None before :meth:`start`)."""
        return self._me

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (None in polling mode)."""
        return self._webhook.port if self._webhook is not None else None

    async def start(self) -> None:
        """Check the token with ``getMe``, then serve updates and notifications in the
        background. Raises :class:`ChannelError` for a missing or rejected token, a bad
        webhook setting, or an unreachable API."""
        if self._client is not None:
            return
        token = self._config.token.strip()
        if not token:
            raise ChannelError(
                "channels.zalo.token: missing (create a bot with Zalo Bot Creator and "
                "give its token here, e.g. token: ${ZALO_BOT_TOKEN})"
            )
        webhook = self._config.webhook
        if webhook.url and not 8 <= len(webhook.secret_token) <= 256:
            raise ChannelError(
                "channels.zalo.webhook.secret_token: required in webhook mode, 8 to 256 characters"
            )
        try:
            client = ZaloBotClient(token, base_url=self._config.base_url, retry=self._retry)
        except ValueError as exc:
            raise ChannelError(f"channels.zalo.token: {exc}") from None
        self._log_guard = LogGuard([token, webhook.secret_token])
        self._log_guard.install()
        self._client = client  # set first: a webhook update may arrive before start returns
        self._stop.clear()
        try:
            store = getattr(self._app, "store", None)
            if store is not None:  # counts every message sent, answers included
                self._meter = UsageMeter(
                    store,
                    self.name,
                    monthly_quota=self._config.monthly_quota,
                    max_users=self._config.max_users,
                    track_users=True,
                )
                await self._meter.start()
            self._me = await self._check_token(client, token)
            await self._replay_handed_back()
            if webhook.url:
                await self._serve_webhook(client)
            else:
                await self._prepare_polling(client)
        except BaseException:
            self._client = None
            await self._stop_webhook_server()
            await client.aclose()
            self._remove_log_guard()
            self._meter = None
            raise
        if self._meter is not None:
            self._meter_task = self._spawn(self._meter.run(self._stop), "usage counting")
        if not webhook.url:
            self._poll_task = self._spawn(self._poll_loop(), "polling")
        jobs = channel_jobs(self._app, self.name, self.send)
        if jobs:  # follow notifications and the desk's replies to hand-overs
            self._notify_task = self._spawn(run_outboxes(jobs, self._stop, self._notify_interval), "notifications")
        mode = f"webhook on port {self.webhook_port}" if webhook.url else "long polling"
        log.info("zalo: started (%s)", mode)

    async def stop(self) -> None:
        """Stop receiving, answer every update already received, then close connections.

        The webhook server closes first (Zalo keeps what it could not deliver), polling
        ends after its current long poll (an update that poll brings is answered too),
        and every update acknowledged so far is answered before the client closes, within
        ``drain_timeout`` seconds; what is still unanswered then is handed back to the
        database and answered at the next start.
        """
        if self._client is None:
            return
        self._stop.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_timeout
        await self._stop_webhook_server()
        if self._poll_task is not None:
            # Not cancelled: an update the API already handed out would be lost with it.
            await self._wait_or_cancel({self._poll_task}, self._poll_timeout + POLL_GRACE)
        await self._drain(deadline)
        if self._notify_task is not None:
            # The notifier ends by itself once it sees the stop event; a pass cut short
            # puts its notification back in the queue.
            await self._wait_or_cancel({self._notify_task}, 30.0)
        if self._meter is not None:
            if self._meter_task is not None:
                await self._wait_or_cancel({self._meter_task}, 10.0)
            await self._meter.flush()  # what the drain sent after the meter's last flush
        self._poll_task = self._notify_task = self._meter_task = None
        self._meter = None
        client, self._client = self._client, None
        await client.aclose()
        self._remove_log_guard()
        log.info("zalo: stopped")

    async def _drain(self, deadline: float) -> None:
        """Wait for every handler until ``deadline``; hand back the updates of the rest."""
        loop = asyncio.get_running_loop()
        while self._handlers:
            waiting = dict(self._handlers)
            _, pending = await asyncio.wait(waiting, timeout=max(0.0, deadline - loop.time()))
            if not pending:
                continue
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            # In the order received, so that each chat's messages are answered in order.
            await self._hand_back([item for t, item in waiting.items() if t in pending and t.cancelled()])
            return

    async def _hand_back(self, items: list[tuple[Update, int | None]]) -> None:
        """Keep unanswered updates in the database for the next start (those replayed
        from it are still there)."""
        fresh = [json.dumps(update.to_json(), ensure_ascii=False) for update, kept in items if kept is None]
        store = getattr(self._app, "store", None)
        if store is None:
            log.error("zalo: stopped before answering %d received message(s)", len(items))
            return
        try:
            await store.hand_back(self.name, fresh)
        except Exception as exc:
            log.error(
                "zalo: stopped before answering %d received message(s), which could not be kept (%s)",
                len(fresh),
                type(exc).__name__,
            )
            return
        log.warning(
            "zalo: %d received message(s) not answered before stopping; kept, to be answered at the next start",
            len(items),
        )

    async def _replay_handed_back(self) -> None:
        """Answer the updates an earlier run received but handed back when it stopped."""
        store = getattr(self._app, "store", None)
        if store is None:
            return
        kept = await store.handed_back(self.name)
        for inbox_id, payload in kept:
            try:
                update = Update.from_json(json.loads(payload))
            except ValueError:
                await store.forget_handed_back([inbox_id])
                continue
            self._dispatch(update, inbox_id)
        if kept:
            log.info("zalo: answering %d message(s) received before the last stop", len(kept))

    @staticmethod
    async def _wait_or_cancel(tasks: set[asyncio.Task[None]], timeout: float) -> int:
        """Wait for ``tasks`` up to ``timeout`` seconds, cancel the rest; how many were cancelled."""
        _, pending = await asyncio.wait(tasks, timeout=max(timeout, 0.0))
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(pending)

    async def _check_token(self, client: ZaloBotClient, token: str) -> BotInfo:
        try:
            return await client.get_me()
        except ZaloNetworkError as exc:
            raise ChannelError(f"channels.zalo.base_url: cannot reach the Zalo Bot API ({exc})") from None
        except ZaloApiError as exc:
            if 400 <= exc.error_code < 500 and not isinstance(exc, ZaloRateLimited):
                raise ChannelError(
                    f"channels.zalo.token: Zalo rejected the bot token {mask_token(token)} ({exc})"
                ) from None
            raise ChannelError(f"channels.zalo: the Zalo Bot API is not available ({exc})") from None

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"zalo {what}")
        task.add_done_callback(self._background_done)
        return task

    @staticmethod
    def _background_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("zalo: %s stopped by %s", task.get_name(), type(task.exception()).__name__)

    async def _sleep_or_stop(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- receiving: polling --------------------------------------------------------------

    async def _prepare_polling(self, client: ZaloBotClient) -> None:
        # A webhook left from an earlier run would swallow the updates getUpdates waits for.
        try:
            await client.delete_webhook()
        except ZaloError as exc:
            log.warning("zalo: could not delete a previous webhook (%s); polling anyway", exc)

    async def _poll_loop(self) -> None:
        assert self._client is not None
        failures = 0
        while not self._stop.is_set():
            try:
                update = await self._client.get_updates(self._poll_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(self._backoff_max, self._backoff_first * 2 ** min(failures, 16))
                failures += 1
                reason = str(exc) if isinstance(exc, ZaloError) else type(exc).__name__
                log.warning("zalo: polling failed (%s); retrying in %.1fs", reason, delay)
                await self._sleep_or_stop(delay)
                continue
            failures = 0
            if update is not None:
                self._dispatch(update)

    # -- receiving: webhook --------------------------------------------------------------

    async def _serve_webhook(self, client: ZaloBotClient) -> None:
        webhook = self._config.webhook
        path = urlsplit(webhook.url).path or "/"
        server = WebhookServer(
            channel="zalo",
            path=path,
            secret_header=SECRET_HEADER,
            secret=webhook.secret_token,
            handler=self._on_webhook if self._inbox is None else self._to_inbox,
            max_body=_MAX_BODY,
            host=self._host,
        )
        try:
            await server.start(webhook.listen, webhook.port)
        except OSError as exc:
            raise ChannelError(
                f"channels.zalo.webhook: cannot listen on {webhook.listen}:{webhook.port} ({exc.strerror or exc})"
            ) from None
        self._webhook = server
        try:
            await client.set_webhook(webhook.url, webhook.secret_token)
        except ZaloApiError as exc:
            raise ChannelError(f"channels.zalo.webhook.url: Zalo refused the webhook ({exc})") from None
        except ZaloNetworkError as exc:
            raise ChannelError(f"channels.zalo.base_url: cannot reach the Zalo Bot API ({exc})") from None

    async def _stop_webhook_server(self) -> None:
        server, self._webhook = self._webhook, None
        if server is not None:
            await server.stop()

    def _remove_log_guard(self) -> None:
        if self._log_guard is not None:
            self._log_guard.remove()
            self._log_guard = None

    async def _on_webhook(self, data: Any) -> int:
        """A checked webhook body: handled (200) or not a Zalo update (400)."""
        try:
            update = Update.from_json(data)
        except ValueError:
            return 400
        self._dispatch(update)
        return 200

    async def _to_inbox(self, data: Any) -> int:
        """Worker mode: store the update's message in the inbox (200 once committed; 503
        when the database cannot take it, so Zalo sends it again)."""
        assert self._inbox is not None
        try:
            update = Update.from_json(data)
        except ValueError:
            return 400
        incoming = self.to_incoming(update)
        if incoming is None:
            return 200
        message = update.message
        assert message is not None
        key = f"{message.chat.id}:{message.message_id}" if message.message_id else "h:" + hashlib.sha256(
            json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()
        try:
            await self._inbox.put(key, incoming)
        except StorageError as exc:
            log.error("zalo: an update was not stored (%s); Zalo will send it again", exc)
            return 503
        if self._meter is not None:
            self._meter.saw_user(incoming.user_id)
        return 200

    async def send_answer(self, chat_id: str, reply: Reply) -> None:
        """Deliver one of the engine's replies (choices as a numbered list), as the
        worker's outbox does; raises RecipientBlocked as :meth:`send`."""
        try:
            await self._send(chat_id, reply)
        except ZaloApiError as exc:
            if 400 <= exc.error_code < 500 and exc.error_code not in _NOT_UNDELIVERABLE:
                raise RecipientBlocked(f"zalo: the chat cannot be messaged ({exc})") from None
            raise

    # -- handling ------------------------------------------------------------------------

    def _dispatch(self, update: Update, inbox_id: int | None = None) -> None:
        """Handle ``update`` in its own task, unless it was seen before; ``inbox_id``
        for an update handed back by an earlier run (forgotten once answered)."""
        message = update.message
        if message is None:
            log.debug("zalo: ignoring a %s event without a message", update.event_name)
            return
        if message.message_id and not self._seen.add((message.chat.id, message.message_id)):
            log.debug("zalo: ignoring a redelivered update")
            return
        task = asyncio.create_task(self._handle(update, inbox_id))
        self._handlers[task] = (update, inbox_id)
        task.add_done_callback(lambda done: self._handlers.pop(done, None))

    def to_incoming(self, update: Update) -> Incoming | None:
        """The engine's view of ``update``, or None when the bot should stay silent
        (its own messages, group chatter not addressed to it)."""
        message = update.message
        if message is None or message.sender.is_bot or not message.chat.id:
            return None
        if update.is_text:
            text = message.text
        elif update.event_name == EVENT_IMAGE:
            text = message.caption
        else:
            text = ""  # a sticker, voice, file…: the engine answers empty text with help
        if message.chat.is_group:
            names = self._me.names if self._me else ()
            addressed = addressed_text(text, names)
            if addressed is None:
                return None
            text = addressed
        return Incoming(
            channel=self.name, user_id=message.sender.id, chat_id=message.chat.id, text=text
        )

    async def _handle(self, update: Update, inbox_id: int | None = None) -> None:
        await self._handle_update(update)
        if inbox_id is not None:
            await self._app.store.forget_handed_back([inbox_id])

    async def _handle_update(self, update: Update) -> None:
        incoming = self.to_incoming(update)
        if incoming is None:
            return
        chat_id = incoming.chat_id
        if self._meter is not None:
            self._meter.saw_user(incoming.user_id)
        # One chat at a time, in order: a "2" must reach the engine after the question
        # that offered the choices.
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        self._chat_pending[chat_id] = self._chat_pending.get(chat_id, 0) + 1
        try:
            async with lock:
                await self._answer(incoming, update.event_name)
        finally:
            self._chat_pending[chat_id] -= 1
            if not self._chat_pending[chat_id]:
                del self._chat_pending[chat_id]
                del self._chat_locks[chat_id]

    async def _answer(self, incoming: Incoming, event_name: str) -> None:
        try:
            response = await self._app.engine.handle(incoming)
            for reply in response.replies:
                await self._send(incoming.chat_id, reply)
        except asyncio.CancelledError:
            raise
        except ZaloForbidden as exc:
            log.info("zalo: could not answer a user (%s)", exc)
        except Exception as exc:
            # Neither the user's text nor ids go to the log: only what kind of failure.
            reason = str(exc) if isinstance(exc, ZaloError) else type(exc).__name__
            log.error(
                "zalo: answering a %s failed (%s)",
                event_name,
                reason,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            with suppress(Exception):
                await self._send(incoming.chat_id, self._sorry())

    # -- sending -------------------------------------------------------------------------

    def _sorry(self) -> Reply:
        return ReplyWriter(self._app.config.commune).failure()

    async def _send(self, chat_id: str, reply: Reply) -> None:
        if self._client is None:
            raise ChannelError("the Zalo channel is not started")
        for chunk in split_text(numbered_choices(reply), MAX_TEXT_LENGTH):
            if self.before_send is not None:
                await self.before_send(chat_id)
            await self._client.send_message(chat_id, chunk)
            if self._meter is not None:
                self._meter.count_sent()

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver a message the user did not ask for (a follow notification), split at
        2,000 characters.

        The notifier's send function. Its choices are left out: without buttons a choice
        is picked by typing its number, and only the engine's own replies teach it what
        a number means in a chat (the notification's text says how to act instead).
        Raises :class:`RecipientBlocked` when Zalo answers any 4xx but a bad token (401),
        a time-out (408) or a rate limit (429): the Zalo Bot API documents no code for
        "the user blocked the bot", so any other refusal means the chat cannot be
        reached. Raises :class:`bot.channels.zalo_api.ZaloError` for other failures
        (429 included) after retries, for the notifier to try again later.
        """
        try:
            await self._send(chat_id, Reply(reply.text))
        except ZaloApiError as exc:
            if 400 <= exc.error_code < 500 and exc.error_code not in _NOT_UNDELIVERABLE:
                raise RecipientBlocked(f"zalo: the chat cannot be messaged ({exc})") from None
            raise


__all__ = ["SECRET_HEADER", "ZaloChannel", "addressed_text"]
