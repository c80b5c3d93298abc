"""The Telegram channel: python-telegram-bot's Application inside ``motcua run``'s event loop.

Updates arrive by long polling, or by webhook when ``channels.telegram.webhook.url`` is
set (served by our own guarded server: secret checked before the body is read, bodies
capped at 1 MB). Each message or button press becomes an :class:`bot.messages.Incoming`
for the engine; its replies go back as plain text (never a parse mode, so user text cannot break
markup) with choices as inline buttons. Follow notifications, the desk's replies to
hand-overs and the hand-overs' posts to the staff group are delivered from their outboxes
in a background task. Messages in the staff group (``handover.telegram_chat_id``) go to
the hand-over relay, never to the engine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import traceback
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes, MessageHandler
from telegram.ext import filters
from telegram.request import HTTPXRequest

from bot.channels.base import Channel
from bot.channels.logguard import LogGuard, mask_token
from bot.channels.render import split_text
from bot.channels.telegram_incoming import COMMANDS, callback_to_incoming, message_to_incoming
from bot.channels.telegram_receive import SECRET_HEADER, SafeBot, readable_update, webhook_handler
from bot.channels.usage import UsageMeter
from bot.channels.webhook import MAX_BODY_BYTES, WebhookHost, WebhookServer
from bot.config import TelegramConfig
from bot.delivery import channel_jobs, run_outboxes
from bot.errors import ChannelError, RecipientBlocked
from bot.messages import MAX_CHOICE_DATA_BYTES, Incoming, Reply
from bot.procedures.wording import ReplyWriter, choice_rate
from bot.storage import StorageError

if TYPE_CHECKING:
    from bot.app import App
    from bot.serving.inbox import Inbox
    from bot.staff.relay import HandoverRelay

log = logging.getLogger(__name__)

#: Telegram's limit on the text of one message.
MAX_MESSAGE_CHARS = 4096
#: The updates asked for: new messages and button presses.
_UPDATES = ["message", "callback_query"]
#: Link previews cost bandwidth on slow connections and clutter short answers.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_T = TypeVar("_T")


class _ChatLocks:
    """One lock per chat, so a chat's messages are answered in order while different
    chats are served concurrently. Locks nobody holds or waits for are dropped."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, chat_id: str) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[chat_id] = lock
        return lock


def file_url_for(base_url: str) -> str:
    """The file download base URL matching an API ``base_url`` (``…/bot`` → ``…/file/bot``)."""
    head, sep, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else f"{base_url}/file"


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's choices as inline buttons, one per row (labels stay readable on small
    phones); a reply that can be rated ends with a 👍/👎 row."""
    rows = [[InlineKeyboardButton(c.label, callback_data=c.data)] for c in reply.choices]
    if reply.rate:
        up, down = choice_rate(reply.rate, True), choice_rate(reply.rate, False)
        if len(down.encode("utf-8")) <= MAX_CHOICE_DATA_BYTES:
            rows.append([InlineKeyboardButton("👍", callback_data=up), InlineKeyboardButton("👎", callback_data=down)])
    return InlineKeyboardMarkup(rows) if rows else None


def chunks(text: str) -> list[str]:
    """``text`` cut into messages Telegram accepts, at line boundaries where possible."""
    out: list[str] = []
    for chunk in split_text(text, MAX_MESSAGE_CHARS):
        # Telegram counts UTF-16 code units: text with many emoji may need a finer cut.
        if len(chunk.encode("utf-16-le")) // 2 > MAX_MESSAGE_CHARS:
            out.extend(split_text(chunk, MAX_MESSAGE_CHARS // 2))
        else:
            out.append(chunk)
    return [c for c in out if c.strip()]


class TelegramChannel(Channel):
    """Serves the engine on Telegram.

    ``poll_timeout`` is the long-polling wait in seconds, ``retry_delays`` the pauses
    before retrying a send that failed on the network, ``notify_interval`` how often the
    notifier looks for pending notifications. The defaults suit production.
    """

    name = "telegram"

    def __init__(
        self,
        config: TelegramConfig,
        app: App,
        *,
        poll_timeout: float = 30.0,
        retry_delays: Sequence[float] = (1.0, 3.0, 10.0),
        notify_interval: float = 5.0,
        inbox: Inbox | None = None,
        host: WebhookHost | None = None,
        before_send: Callable[[str], Awaitable[None]] | None = None,
        deliver_outboxes: bool = True,
    ) -> None:
        #: Worker mode (``motcua run --workers``): residents' updates are stored in
        #: ``inbox`` (answered by the workers' loops) on the shared listener ``host``;
        #: ``before_send(chat_id)`` waits for the shared rate limits before each message.
        self._inbox = inbox
        self._host = host
        self.before_send = before_send
        self._deliver_outboxes = deliver_outboxes
        self._pressed: set[asyncio.Task[None]] = set()
        self._config = config
        self._app = app
        self._poll_timeout = poll_timeout
        self._retry_delays = tuple(retry_delays)
        self._notify_interval = notify_interval
        self._application: Application | None = None
        self._stop_notifier = asyncio.Event()
        self._notifier_task: asyncio.Task[None] | None = None
        self._locks = _ChatLocks()
        self._log_guard: LogGuard | None = None
        self._webhook: WebhookServer | None = None
        self._meter: UsageMeter | None = None
        self._meter_task: asyncio.Task[None] | None = None
        self._token = ""
        self._conflict_logged = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token with getMe, register the commands, start polling or the webhook
        server and the notification task. Raises :class:`ChannelError` when it cannot."""
        token = self._config.token.strip()
        if not token:
            raise ChannelError(
                "channels.telegram.token: missing; create a bot with @BotFather and set its token"
            )
        if self._application is not None:
            return
        self._token = token
        self._log_guard = LogGuard([token, self._config.webhook.secret_token])
        self._log_guard.install()
        self._stop_notifier.clear()
        store = getattr(self._app, "store", None)
        if store is not None:  # counts every message sent, answers included
            self._meter = UsageMeter(store, self.name)
            self._meter_task = asyncio.create_task(self._meter.run(self._stop_notifier), name="telegram-usage")
        try:
            application = self._application = self._build(token)
            await self._initialize(application, token)
            await application.start()
            await self._register_commands(application)
            await self._start_updates(application, token)
        except BaseException:
            await self.stop()
            raise
        jobs = channel_jobs(self._app, self.name, self.send, post=self.post) if self._deliver_outboxes else []
        if jobs:  # follow notifications, hand-over replies and posts to the staff group
            self._notifier_task = asyncio.create_task(
                run_outboxes(jobs, self._stop_notifier, self._notify_interval), name="telegram-notifier"
            )
        log.info("Telegram channel started as @%s (%s)", application.bot.username, self._mode())

    async def stop(self) -> None:
        """Stop the notification task, the updater and the application; safe to repeat."""
        if self._notifier_task is not None:
            self._stop_notifier.set()
            try:
                await asyncio.wait_for(self._notifier_task, timeout=30)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception("Telegram notifier ended with an error")
            self._notifier_task = None
        if self._webhook is not None:
            await self._webhook.stop()  # no new updates; those queued are answered below
            self._webhook = None
        application = self._application
        if application is not None:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()  # answers the updates already received first
            await application.shutdown()
            await application.bot.shutdown()  # also when start failed before initialize ended
            self._application = None
            log.info("Telegram channel stopped")
        if self._meter is not None:
            self._stop_notifier.set()
            if self._meter_task is not None:
                await asyncio.gather(self._meter_task, return_exceptions=True)
            await self._meter.flush()  # the answers sent while stopping
            self._meter = self._meter_task = None
        if self._log_guard is not None:
            self._log_guard.remove()
            self._log_guard = None

    def _build(self, token: str) -> Application:
        base_url = self._config.base_url.rstrip("/")
        bot = SafeBot(
            token,
            base_url=base_url,
            base_file_url=file_url_for(base_url),
            request=HTTPXRequest(
                connection_pool_size=256, connect_timeout=10.0, read_timeout=20.0, write_timeout=20.0
            ),
            get_updates_request=HTTPXRequest(
                connection_pool_size=1, connect_timeout=10.0, read_timeout=self._poll_timeout + 10.0
            ),
            rate_limiter=AIORateLimiter(max_retries=3),
        )
        application = Application.builder().bot(bot).concurrent_updates(True).job_queue(None).build()
        # Only new messages: edits and channel posts are not questions to answer.
        application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        application.add_handler(CallbackQueryHandler(self._on_button))
        application.add_error_handler(self._on_error)
        return application

    async def _initialize(self, application: Application, token: str) -> None:
        """``application.initialize()`` (getMe), retrying network failures, token errors → ChannelError."""
        masked = mask_token(token)
        for attempt, delay in enumerate((*self._retry_delays, None)):
            try:
                await application.initialize()
                return
            except InvalidToken:
                raise ChannelError(
                    f"channels.telegram.token: Telegram rejected the token {masked} "
                    "(check it with @BotFather, /mybots → API Token)"
                ) from None
            except TelegramError as exc:
                if delay is None or isinstance(exc, BadRequest):
                    raise ChannelError(
                        f"channels.telegram: cannot reach the Bot API at {self._config.base_url} "
                        f"with token {masked}: {_safe(exc, token)}"
                    ) from None
                log.warning("Telegram getMe failed (attempt %d), retrying in %.0fs", attempt + 1, delay)
                await asyncio.sleep(delay)

    async def _register_commands(self, application: Application) -> None:
        """Show our commands in Telegram's menu (a failure only costs the menu)."""
        commands = [BotCommand(name, description) for name, description in COMMANDS]
        try:
            await self._retrying(lambda: application.bot.set_my_commands(commands))
        except TelegramError as exc:
            log.warning("Telegram setMyCommands failed: %s", type(exc).__name__)

    async def _start_updates(self, application: Application, token: str) -> None:
        updater = application.updater
        assert updater is not None
        webhook = self._config.webhook
        try:
            if webhook.url:
                await self._start_webhook(application)
            else:
                await updater.start_polling(
                    timeout=self._poll_timeout,
                    allowed_updates=_UPDATES,
                    bootstrap_retries=len(self._retry_delays),
                    error_callback=self._on_polling_error,
                )
        except TelegramError as exc:
            what = "set the webhook" if webhook.url else "start polling"
            raise ChannelError(f"channels.telegram: cannot {what}: {_safe(exc, token)}") from None
        except OSError as exc:
            raise ChannelError(
                f"channels.telegram.webhook: cannot listen on {webhook.listen}:{webhook.port} "
                f"({exc.strerror or exc})"
            ) from None

    async def _start_webhook(self, application: Application) -> None:
        """Listen with our guarded server, then tell Telegram where to post."""
        webhook = self._config.webhook
        secret = webhook.secret_token or secrets.token_urlsafe(32)
        if not _SECRET_TOKEN.fullmatch(secret):
            raise ChannelError("channels.telegram.webhook.secret_token: use 1-256 letters, digits, _ or -")
        server = WebhookServer(
            channel="telegram",
            path=urlsplit(webhook.url).path or "/",
            secret_header=SECRET_HEADER,
            secret=secret,
            handler=webhook_handler(application) if self._inbox is None else self._to_inbox,
            max_body=MAX_BODY_BYTES,
            host=self._host,
        )
        await server.start(webhook.listen, webhook.port)
        self._webhook = server
        await self._retrying(
            lambda: application.bot.set_webhook(
                url=webhook.url, secret_token=secret, allowed_updates=_UPDATES
            )
        )

    async def _to_inbox(self, data: Any) -> int:
        """Worker mode: store a resident's update in the inbox (200 once committed; 503
        when the database cannot take it, so Telegram sends it again); the staff group's
        messages are handled here as without workers."""
        application = self._application
        assert application is not None and self._inbox is not None
        readable = readable_update(data, application.bot)
        if readable is None:
            return 400
        update = Update.de_json(readable, application.bot)
        bot = application.bot
        message, query = update.message, update.callback_query
        relay = getattr(self._app, "relay", None)
        incoming, meta = None, {}
        if message is not None and relay is not None and relay.is_staff_chat(str(message.chat.id)):
            # the relay answers it in a worker (never the engine): see bot.serving.worker
            replied = message.reply_to_message
            to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
            text = message.text if message.text is not None else (message.caption or "")
            sender = str(message.from_user.id) if message.from_user else str(message.chat.id)
            incoming = Incoming(channel=self.name, user_id=sender, chat_id=str(message.chat.id), text=text)
            staff = {"replied": str(replied.message_id) if to_bot and replied else None, "name": _staff_name(message)}
            meta = {"staff": staff, "quote": message.message_id}
        elif message is not None:
            incoming = message_to_incoming(message, bot.id, bot.username)
            if message.chat.type != ChatType.PRIVATE:
                meta = {"quote": message.message_id}
        elif query is not None:
            incoming = callback_to_incoming(query)
        if incoming is None:
            return 200
        try:
            fresh = await self._inbox.put(str(update.update_id), incoming, meta)
        except StorageError as exc:
            log.error("Telegram update %d not stored (%s); Telegram will send it again", update.update_id, exc)
            return 503
        if fresh and query is not None:  # stops the button's spinner
            task = asyncio.create_task(self._answer_query(query))
            self._pressed.add(task)
            task.add_done_callback(self._pressed.discard)
        return 200

    @staticmethod
    async def _answer_query(query: CallbackQuery) -> None:
        try:
            await query.answer()
        except TelegramError as exc:
            log.info("Telegram answerCallbackQuery failed: %s", type(exc).__name__)

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook server listens on (None in polling mode)."""
        return self._webhook.port if self._webhook is not None else None

    def _mode(self) -> str:
        webhook = self._config.webhook
        return f"webhook on {webhook.listen}:{webhook.port}" if webhook.url else "long polling"

    def _on_polling_error(self, exc: TelegramError) -> None:
        """Polling errors (the updater retries by itself); a conflict is said once, clearly."""
        if isinstance(exc, Conflict):
            if not self._conflict_logged:
                self._conflict_logged = True
                log.error(
                    "Telegram: another program is receiving updates for this bot token; "
                    "stop it (only one `motcua run` per bot)"
                )
            return
        log.warning("Telegram polling error: %s", _safe(exc, self._token))

    # -- handlers --------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        bot = context.bot
        relay = getattr(self._app, "relay", None)
        if relay is not None and relay.is_staff_chat(str(message.chat.id)):
            await self._on_staff_message(relay, message, bot.id)  # never a resident's question
            return
        incoming = message_to_incoming(message, bot.id, bot.username)
        if incoming is None:
            return
        # In groups the answer quotes the question, so everyone sees what it answers.
        quote = message.message_id if message.chat.type != ChatType.PRIVATE else None
        await self._answer(incoming, quote)

    async def _on_staff_message(self, relay: HandoverRelay, message: Message, bot_id: int) -> None:
        """A message in the staff group: a reply to one of the bot's hand-over posts answers it."""
        replied = message.reply_to_message
        to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
        staff = _staff_name(message)
        text = message.text if message.text is not None else (message.caption or "")
        async with self._locks(str(message.chat.id)):
            answer = await relay.staff_message(
                str(replied.message_id) if to_bot and replied else None, staff, text, chat=str(message.chat.id)
            )
            if answer:
                await self._deliver(str(message.chat.id), Reply(answer), message.message_id)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        # Answer first: it stops the button's spinner even if the engine fails below.
        try:
            await query.answer()
        except TelegramError as exc:  # e.g. a query older than Telegram allows
            log.info("Telegram answerCallbackQuery failed: %s", type(exc).__name__)
        incoming = callback_to_incoming(query)
        if incoming is not None:
            await self._answer(incoming, None)

    async def _answer(self, incoming: Incoming, quote: int | None) -> None:
        async with self._locks(incoming.chat_id):
            response = await self._app.engine.handle(incoming)
            for reply in response.replies:
                await self._deliver(incoming.chat_id, reply, quote)
                quote = None

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure with its context (no message text) and apologise to the user."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        chat = update.effective_chat if isinstance(update, Update) else None
        if isinstance(error, TelegramError):  # Telegram's own words carry no user data
            log.error(
                "Telegram update %s in chat %s failed: %s: %s",
                update_id,
                chat.id if chat else None,
                type(error).__name__,
                _safe(error, self._token),
            )
        else:
            # The traceback without the exception's message, which may quote the user.
            trace = "".join(traceback.format_tb(error.__traceback__)) if error else ""
            log.error(
                "Telegram update %s in chat %s failed: %s\n%s",
                update_id,
                chat.id if chat else None,
                type(error).__name__,
                trace.rstrip(),
            )
        if chat is None or isinstance(error, Forbidden):
            return
        try:
            await context.bot.send_message(chat.id, ReplyWriter(self._app.config.commune).failure().text)
        except TelegramError:
            pass

    # -- delivery --------------------------------------------------------------------

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver one reply (a notification) to ``chat_id``.

        Raises :class:`RecipientBlocked` when the user blocked the bot (or it was removed
        from the group), so that the notifier forgets that subscription.
        """
        try:
            await self._deliver(chat_id, reply, None)
        except Forbidden:
            raise RecipientBlocked(f"telegram chat {chat_id} blocked the bot") from None

    async def send_answer(self, chat_id: str, reply: Reply) -> None:
        """Deliver one of the engine's replies from the workers' outbox, quoting the
        question when the reply carries its message id (``quote``, in groups)."""
        try:
            await self._deliver(chat_id, reply, getattr(reply, "quote", None))
        except Forbidden:
            raise RecipientBlocked(f"telegram chat {chat_id} blocked the bot") from None

    async def post(self, chat_id: str, reply: Reply) -> list[str]:
        """Deliver ``reply`` (a hand-over's post to the staff group); the ids of the
        messages it became, so that a reply to any of them is known."""
        try:
            return [str(m.message_id) for m in await self._deliver(chat_id, reply, None)]
        except Forbidden:
            raise RecipientBlocked(f"telegram chat {chat_id} removed the bot") from None

    async def _deliver(self, chat_id: str, reply: Reply, quote: int | None) -> list[Message]:
        """Send ``reply`` as plain text, split if long, buttons on the last part."""
        application = self._application
        if application is None:
            raise ChannelError("telegram channel is not running")
        bot = application.bot
        parts = chunks(reply.text)
        sent: list[Message] = []
        for i, part in enumerate(parts):
            first, last = i == 0, i == len(parts) - 1
            send = functools.partial(
                bot.send_message,
                chat_id=chat_id,
                text=part,
                reply_markup=keyboard(reply) if last else None,
                reply_parameters=(
                    ReplyParameters(message_id=quote, allow_sending_without_reply=True)
                    if quote is not None and first
                    else None
                ),
                link_preview_options=_NO_PREVIEW,
            )
            if self.before_send is not None:
                await self.before_send(chat_id)
            sent.append(await self._retrying(send))
            if self._meter is not None:
                self._meter.count_sent()
        return sent

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call``, retrying network failures after ``retry_delays`` (flood limits'
        RetryAfter is honoured by the rate limiter before it gets here).

        A timed-out send may have arrived all the same; a rare duplicate is better than
        an answer an older citizen waits for in vain."""
        for delay in self._retry_delays:
            try:
                return await call()
            except BadRequest:
                raise
            except NetworkError as exc:
                log.warning("Telegram request failed (%s), retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
        return await call()


def _staff_name(message: Message) -> str:
    """How a staff member who wrote ``message`` is named in the hand-over's record."""
    sender = message.from_user
    if sender is None:
        return "Telegram"
    return sender.full_name + (f" (@{sender.username})" if sender.username else "")


def _safe(exc: BaseException, token: str) -> str:
    """An exception's message with the token masked."""
    return str(exc).replace(token, mask_token(token)) if token else str(exc)
