"""One worker process of ``motcua run --workers N``.

It opens the same App as ``motcua run`` (catalogue, dossier store, staff side), keeps
the engine's conversations and the router's pending questions in the database, serves
both channels' webhooks on their ports shared with the other workers (SO_REUSEPORT),
storing each update in the inbox, and runs:

- ``concurrency`` handler loops: claim the next message (per-chat order), answer it,
  commit session + replies + done in one transaction, then send its replies;
- a reply loop sending what is left in the reply outbox (replies of a worker that died,
  retries), and the notification and hand-over outboxes as ``motcua run`` does;
- the catalogue watcher (each worker reloads its own engine);
- the singleton jobs (scheduled sync, clean-up, back office) while this worker holds
  the ``jobs`` lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.delivery import Deliverer, SendFn
from bot.messages import Reply
from bot.serving.inbox import Inbox, InboxMessage, LostClaim, ReplyQueue
from bot.serving.leases import Lease
from bot.serving.limits import SharedRateLimiter, telegram_group
from bot.serving.schema import migrate
from bot.serving.sessions import DatabasePending, DatabaseSessions
from bot.storage import Database, open_database

log = logging.getLogger(__name__)

#: Test-only hooks (never set in production): a message whose text contains
#: ``MOTCUA_TEST_SLOW_TEXT`` is answered after ``MOTCUA_TEST_SLOW_SECONDS`` seconds (to
#: kill a worker while it holds it); ``MOTCUA_TEST_INBOX_LEASE`` shortens the lease.
SLOW_TEXT_ENV = "MOTCUA_TEST_SLOW_TEXT"
SLOW_SECONDS_ENV = "MOTCUA_TEST_SLOW_SECONDS"
LEASE_ENV = "MOTCUA_TEST_INBOX_LEASE"
#: Test-only: shortens the replies' lease (90 s), e.g. for the province bench's CI run.
REPLY_LEASE_ENV = "MOTCUA_TEST_REPLY_LEASE"
#: Done messages and sent replies are kept this long (seconds), then deleted: a
#: redelivered update is recognised within it.
KEEP_DONE_SECONDS = 3600.0


def _reply_lease() -> float:
    return float(os.environ.get(REPLY_LEASE_ENV) or 90.0)


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker runs (the defaults suit production)."""

    index: int = 0
    #: Messages answered at once by this worker (different chats).
    concurrency: int = 8
    #: Seconds an idle handler waits before looking for work again.
    idle_poll: float = 0.2
    #: Seconds between passes of the reply outbox.
    reply_interval: float = 0.5
    #: Seconds between tries for the singleton jobs' lease.
    lease_interval: float = 5.0


class Worker:
    """A worker: an App, its database view, the channels in inbox mode and the loops."""

    def __init__(self, config: Config, app: Any, db: Database, options: WorkerOptions) -> None:
        self.config = config
        self.app = app
        self.db = db
        self.options = options
        lease = float(os.environ.get(LEASE_ENV) or 30.0)
        self.holder = f"worker-{options.index}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.inbox = Inbox(db, lease=lease, holder=f"{os.getpid()}")
        self.replies = ReplyQueue(db)
        self.deliverer = Deliverer(
            self.replies, what="reply", base_delay=2.0, max_delay=120.0, max_attempts=8, lease=_reply_lease()
        )
        self.sessions = DatabaseSessions(db, config.dialogue.session_timeout_minutes * 60)
        self.holder = f"worker-{options.index}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.channels: list[Any] = []
        self.senders: dict[str, SendFn] = {}
        self.stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        #: Replies sent at once right after answering (the rest wait for the reply loop).
        self._send_slots = asyncio.Semaphore(2 * options.concurrency)
        self._slow_text = os.environ.get(SLOW_TEXT_ENV, "")
        self._slow_seconds = float(os.environ.get(SLOW_SECONDS_ENV) or 0.0)

    @classmethod
    async def open(cls, config: Config, options: WorkerOptions) -> Worker:
        """Open the App and the serving tables, and put the engines' state in the database."""
        from bot.app import App

        app = await App.open(config)
        try:
            db = await open_database(config.database.path, config.database.url, pool_size=options.concurrency + 4)
            await migrate(db)
        except BaseException:
            await app.close()
            raise
        worker = cls(config, app, db, options)
        router = getattr(app, "router", None)
        if router is not None:
            for tenant in router.tenants.values():
                tenant.engine.use_sessions(worker.sessions.for_commune(tenant.id))
            router.use_pending(DatabasePending(db))
        else:
            app.engine.use_sessions(worker.sessions)
        return worker

    def _build_channels(self) -> None:
        from bot.channels.webhook import WebhookHost

        host = WebhookHost(reuse_port=True)
        telegram, zalo = self.config.channels.telegram, self.config.channels.zalo
        inbox = _WakingInbox(self.inbox, self._wake)
        if telegram is not None and telegram.token:
            from bot.channels.telegram import TelegramChannel

            limiter = SharedRateLimiter(self.db, "telegram", telegram.rate_limits, is_group=telegram_group)
            channel = TelegramChannel(telegram, self.app, inbox=inbox, host=host, before_send=limiter)  # type: ignore[arg-type]
            self.channels.append(channel)
            self.senders["telegram"] = channel.send_answer
        if zalo is not None and zalo.token:
            from bot.channels.zalo import ZaloChannel

            limiter = SharedRateLimiter(self.db, "zalo", zalo.rate_limits)
            channel = ZaloChannel(zalo, self.app, inbox=inbox, host=host, before_send=limiter)  # type: ignore[arg-type]
            self.channels.append(channel)
            self.senders["zalo"] = channel.send_answer

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Serve until :attr:`stop` is set, then stop gracefully."""
        self._build_channels()
        started: list[Any] = []
        tasks: list[asyncio.Task[Any]] = []
        try:
            for channel in self.channels:
                await channel.start()
                started.append(channel)
            for i in range(self.options.concurrency):
                tasks.append(asyncio.create_task(self._handler_loop(), name=f"handler-{i}"))
            tasks.append(asyncio.create_task(self._reply_loop(), name="replies"))
            tasks.append(asyncio.create_task(self._singletons(), name="singletons"))
            if self.config.catalogue.reload_seconds > 0:
                from bot.procedures.watch import watch
                from bot.tenants import catalogue_folders

                tasks.append(asyncio.create_task(watch(
                    catalogue_folders(self.config), lambda: self.app.catalogue_fingerprint,
                    self.app.reload_catalogue, self.stop, self.config.catalogue.reload_seconds,
                )))
            if ready is not None:
                ready()
            await self.stop.wait()
        finally:
            self.stop.set()
            self._wake.set()
            # The handlers finish the message they hold and send its replies while the
            # channels still run; updates arriving meanwhile stay in the inbox for others.
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._sending:
                await asyncio.wait(self._sending, timeout=10.0)
            for channel in reversed(started):
                await channel.stop()

    async def close(self) -> None:
        """Close the databases."""
        await self.db.close()
        await self.app.close()

    # -- answering -----------------------------------------------------------------------

    async def _handler_loop(self) -> None:
        while not self.stop.is_set():
            try:
                claimed = await self.inbox.claim(1)
            except Exception as exc:  # the database is busy or away: try again shortly
                log.warning("inbox claim failed (%s)", type(exc).__name__)
                claimed = []
            if not claimed:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.options.idle_poll)
                except TimeoutError:
                    pass
                continue
            await self.handle(claimed[0])

    async def handle(self, message: InboxMessage) -> None:
        """Answer one claimed message: engine, then one transaction, then its replies."""
        try:
            with DatabaseSessions.staging() as staged:
                if self._slow_text and self._slow_text in message.incoming.text and message.attempts == 1:
                    await asyncio.sleep(self._slow_seconds)
                replies = await self._answer(message)
            await self.inbox.complete(message, replies, staged)
        except LostClaim:
            log.warning("inbox message %d was taken by another worker; this answer is dropped", message.id)
            return
        except asyncio.CancelledError:
            await asyncio.shield(self.inbox.release(message))
            raise
        except Exception as exc:  # left claimed: another try after the lease
            log.error("inbox message %d not answered (%s)", message.id, type(exc).__name__)
            return
        task = asyncio.create_task(self._send_replies(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _answer(self, message: InboxMessage) -> list[Reply]:
        """The replies to ``message``: the engine's, or for a message in the staff group
        the hand-over relay's word in the group (the engine never sees those)."""
        staff = message.meta.get("staff")
        relay = getattr(self.app, "relay", None)
        if isinstance(staff, dict):
            if relay is None:
                return []
            incoming = message.incoming
            said = await relay.staff_message(staff.get("replied"), str(staff.get("name", "")), incoming.text,
                                             chat=incoming.chat_id)
            return [Reply(said)] if said else []
        return (await self.app.engine.handle(message.incoming)).replies

    async def _send_replies(self, message: InboxMessage, patience: float = 10.0) -> None:
        """Send the replies of ``message`` now (those the chat's earlier replies hold
        back are left to the reply loop after ``patience`` seconds)."""
        send = self.senders.get(message.channel)
        if send is None:
            return
        own = self.replies.of_messages([message.id])
        deliverer = Deliverer(own, what="reply", base_delay=2.0, max_delay=120.0, max_attempts=8, lease=_reply_lease())
        deadline = time.monotonic() + patience
        try:
            async with self._send_slots:
                await self._send_own(message, send, own, deliverer, deadline)
        except Exception as exc:  # the reply loop sends them
            log.warning("sending the replies of inbox message %d failed (%s)", message.id, type(exc).__name__)

    async def _send_own(
        self, message: InboxMessage, send: SendFn, own: ReplyQueue, deliverer: Deliverer, deadline: float
    ) -> None:
        while True:
            await deliverer.deliver_pending(message.channel, send)
            if not await own.unsent([message.id]) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    async def _reply_loop(self) -> None:
        while not self.stop.is_set():
            for channel, send in self.senders.items():
                try:
                    await self.deliverer.deliver_pending(channel, send)
                except Exception as exc:
                    log.warning("%s reply outbox pass failed (%s)", channel, type(exc).__name__)
            try:
                await asyncio.wait_for(self.stop.wait(), self.options.reply_interval)
            except TimeoutError:
                pass

    # -- singleton jobs ------------------------------------------------------------------

    async def _singletons(self) -> None:
        """While this worker holds the ``jobs`` lease: the scheduled sync, the clean-up
        and the back office; stopped as soon as the lease is lost."""
        lease = Lease(self.db, "jobs", self.holder, ttl=max(20.0, self.options.lease_interval * 4))
        jobs: list[asyncio.Task[Any]] = []
        job_stop = asyncio.Event()
        try:
            while not self.stop.is_set():
                try:
                    holding = await lease.hold()
                except Exception as exc:
                    log.warning("jobs lease not renewed (%s)", type(exc).__name__)
                    holding = False
                if holding and not jobs:
                    job_stop = asyncio.Event()
                    jobs = self._start_jobs(job_stop)
                    log.info("worker %d runs the singleton jobs", self.options.index)
                elif not holding and jobs:
                    job_stop.set()
                    await asyncio.gather(*jobs, return_exceptions=True)
                    jobs = []
                try:
                    await asyncio.wait_for(self.stop.wait(), self.options.lease_interval)
                except TimeoutError:
                    pass
        finally:
            job_stop.set()
            await asyncio.gather(*jobs, return_exceptions=True)
            try:
                await lease.release()
            except Exception:  # noqa: BLE001 - it runs out by itself
                pass

    def _start_jobs(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        config = self.config
        jobs = [asyncio.create_task(self._clean_up(stop), name="clean-up")]
        if config.status.sync.source and config.status.sync.interval_minutes > 0:
            from bot.dossiers.sync import run_scheduled_sync

            jobs.append(asyncio.create_task(run_scheduled_sync(self.app.store, config, stop), name="sync"))
        if config.backoffice is not None:
            from bot.backoffice.web import serve_beside

            names = {c.name for c in self.channels}
            jobs.append(asyncio.create_task(serve_beside(self.app, config.backoffice, stop, lambda: names)))
        return jobs

    async def _clean_up(self, stop: asyncio.Event, interval: float = 300.0) -> None:
        """Delete what is no longer needed: old done messages and sent replies, timed-out
        sessions and pending questions, idle rate counters."""
        from bot.tenants import PENDING_SECONDS

        while not stop.is_set():
            try:
                await self.inbox.forget_done(KEEP_DONE_SECONDS)
                await self.replies.forget_sent(KEEP_DONE_SECONDS)
                await self.sessions.forget_expired()
                await DatabasePending(self.db).forget_older(PENDING_SECONDS)
                await self.db.run("DELETE FROM serving_rates WHERE tat < ?", (time.time() - 120.0,))
            except Exception as exc:
                log.warning("clean-up failed (%s)", type(exc).__name__)
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass


class _WakingInbox:
    """The inbox as the channels see it: storing a message wakes an idle handler."""

    def __init__(self, inbox: Inbox, wake: asyncio.Event) -> None:
        self._inbox = inbox
        self._wake = wake

    async def put(self, key: str, incoming: Any, meta: dict[str, Any] | None = None) -> bool:
        fresh = await self._inbox.put(key, incoming, meta)
        self._wake.set()
        return fresh


async def run_worker(config: Config, options: WorkerOptions) -> int:
    """Serve as worker ``options.index`` until SIGTERM or SIGINT; the exit status."""
    worker = await Worker.open(config, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop.set)
    try:
        await worker.serve(
            ready=lambda: _say(
                f"motcua: worker {options.index} (pid {os.getpid()}) serving "
                f"{', '.join(c.name for c in worker.channels)}"
            )
        )
    finally:
        await worker.close()
    return 0


def _say(line: str) -> None:
    """Print one line to stderr in one write (the workers share it)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


__all__ = ["Worker", "WorkerOptions", "run_worker"]
