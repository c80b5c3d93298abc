"""The durable inbox and the reply outbox of the workers.

A webhook update is parsed by its channel into an :class:`bot.messages.Incoming` and
:meth:`Inbox.put` stores it under a key unique per update (Telegram's ``update_id``,
Zalo's message id or a hash of the body): the webhook is answered 200 only once the row
is committed, and a redelivered update is stored once.

Workers take messages with :meth:`Inbox.claim`: the oldest open message of a chat is
claimable only when no earlier message of that chat is still open, so each chat is
answered in order, while different chats are answered at once by different workers.
A claim is a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite): the message of a worker that died is claimable again when its lease ends.

:meth:`Inbox.complete` then, in one transaction, writes the dialogue sessions the engine
saved, queues the replies in ``serving_replies`` under (message, position) and marks the
message done, only while the claim is still this worker's: a message handled twice
(its first worker slow or killed) queues its replies once. :class:`ReplyQueue` is that
outbox as a :class:`bot.delivery.Queue`, so the existing :class:`bot.delivery.Deliverer`
sends each reply once (a lease claim per row), each chat's replies in order.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.messages import Choice, Incoming, Reply
from bot.serving.sessions import DatabaseSessions, Staged, incoming_from_json, incoming_to_json
from bot.storage import Database, StorageError

log = logging.getLogger(__name__)

#: Seconds a claimed message stays with its worker (longer than the slowest answer).
LEASE_SECONDS = 30.0
#: Claims of one message (each ended by a dying worker) before it is given up.
MAX_ATTEMPTS = 5


class LostClaim(StorageError):
    """The message's lease ended and another worker took it: this result is dropped."""


@dataclass(frozen=True)
class InboxMessage:
    """A claimed message: the inbox row, what the resident sent, and the claim."""

    id: int
    channel: str
    chat_id: str
    incoming: Incoming
    claim: str
    attempts: int
    #: What the channel kept beside the message (e.g. the message id a group answer quotes).
    meta: dict[str, Any]


_OPEN_HEAD = (
    "i.state IN ('new', 'claimed') AND (i.state = 'new' OR i.lease_until < ?) "
    "AND NOT EXISTS (SELECT 1 FROM serving_inbox e WHERE e.channel = i.channel AND e.chat_id = i.chat_id "
    "AND e.id < i.id AND e.state IN ('new', 'claimed'))"
)


class Inbox:
    """The ``serving_inbox`` table of ``db``."""

    def __init__(
        self,
        db: Database,
        *,
        lease: float = LEASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], float] = time.time,
        holder: str = "",
    ) -> None:
        self._db = db
        #: Who claims (a worker's name, kept in each claim for the operator).
        self._holder = holder
        self._lease = lease
        self._max_attempts = max_attempts
        self._clock = clock

    async def put(self, key: str, incoming: Incoming, meta: dict[str, Any] | None = None) -> bool:
        """Store ``incoming`` under ``key`` (unique per update of its channel); False when
        that update was stored before (a redelivery). Returns once committed."""
        payload = json.dumps({"msg": incoming_to_json(incoming), "meta": meta or {}}, ensure_ascii=False)
        changed = await self._db.run(
            "INSERT INTO serving_inbox (channel, update_key, chat_id, payload, received_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (channel, update_key) DO NOTHING",
            (incoming.channel, key, incoming.chat_id, payload, self._clock()),
        )
        return changed == 1

    async def claim(self, limit: int = 1) -> list[InboxMessage]:
        """Claim up to ``limit`` messages, each the oldest open one of its chat and none
        of a chat with an earlier message open; empty when there is nothing to do."""
        now = self._clock()
        lock = " FOR UPDATE SKIP LOCKED" if self._db.dialect == "postgres" else ""
        claimed: list[InboxMessage] = []
        given_up: list[int] = []
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "SELECT i.id, i.channel, i.chat_id, i.payload, i.attempts FROM serving_inbox i "
                f"WHERE {_OPEN_HEAD} ORDER BY i.id LIMIT ?{lock}",
                (now, limit),
            )
            for row_id, channel, chat_id, payload, attempts in rows:
                if int(attempts) >= self._max_attempts:  # its handling killed the worker each time
                    await tx.run(
                        "UPDATE serving_inbox SET state = 'failed', done_at = ?, payload = '' WHERE id = ?",
                        (now, row_id),
                    )
                    given_up.append(int(row_id))
                    continue
                try:
                    data = json.loads(payload)
                    incoming = incoming_from_json(data["msg"])
                except (ValueError, KeyError, TypeError):
                    await tx.run("UPDATE serving_inbox SET state = 'failed', done_at = ? WHERE id = ?", (now, row_id))
                    given_up.append(int(row_id))
                    continue
                claim = f"{self._holder}:{uuid.uuid4().hex}" if self._holder else uuid.uuid4().hex
                await tx.run(
                    "UPDATE serving_inbox SET state = 'claimed', claim = ?, lease_until = ?, attempts = attempts + 1 "
                    "WHERE id = ?",
                    (claim, now + self._lease, row_id),
                )
                claimed.append(
                    InboxMessage(
                        int(row_id), str(channel), str(chat_id), incoming, claim, int(attempts) + 1,
                        dict(data.get("meta") or {}),
                    )
                )
        for row_id in given_up:
            log.error("inbox message %d given up: it could not be answered in %d attempts", row_id, self._max_attempts)
        if given_up and not claimed:  # the chats they held up may have their next message
            return await self.claim(limit)
        return claimed

    async def complete(self, message: InboxMessage, replies: Sequence[Reply], sessions: Staged) -> None:
        """In one transaction: save ``sessions``, queue ``replies`` and mark ``message``
        done. Raises :class:`LostClaim` (nothing written) when the claim is no longer ours."""
        now = self._clock()
        async with self._db.transaction() as tx:
            done = await tx.run(
                "UPDATE serving_inbox SET state = 'done', done_at = ?, payload = '' "
                "WHERE id = ? AND claim = ? AND state = 'claimed'",
                (now, message.id, message.claim),
            )
            if done != 1:
                raise LostClaim(f"inbox message {message.id}: claimed by another worker")
            await DatabaseSessions.write(tx, sessions.items(), now)
            for seq, reply in enumerate(replies):
                await tx.run(
                    "INSERT INTO serving_replies (inbox_id, seq, channel, chat_id, user_id, body, next_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (inbox_id, seq) DO NOTHING",
                    (
                        message.id, seq, message.channel, message.chat_id, message.incoming.user_id,
                        reply_to_json(reply, message.meta if seq == 0 else {}), now,
                    ),
                )

    async def release(self, message: InboxMessage) -> None:
        """Give ``message`` back unanswered (this worker is stopping)."""
        await self._db.run(
            "UPDATE serving_inbox SET state = 'new', lease_until = 0, attempts = attempts - 1 "
            "WHERE id = ? AND claim = ? AND state = 'claimed'",
            (message.id, message.claim),
        )

    async def counts(self) -> dict[str, int]:
        """How many messages are in each state."""
        rows = await self._db.fetch("SELECT state, count(*) FROM serving_inbox GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    async def forget_done(self, older_than: float) -> int:
        """Delete messages done (or given up) more than ``older_than`` seconds ago; their
        keys are kept that long to drop redeliveries."""
        return await self._db.run(
            "DELETE FROM serving_inbox WHERE state IN ('done', 'failed') AND done_at < ?",
            (self._clock() - older_than,),
        )


def reply_to_json(reply: Reply, meta: dict[str, Any] | None = None) -> str:
    """A queued reply's body (``meta``: what the channel needs to send it, e.g. a quote)."""
    return json.dumps(
        {
            "text": reply.text,
            "choices": [[c.label, c.data] for c in reply.choices],
            "rate": reply.rate,
            "meta": meta or {},
        },
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class QueuedAnswer(Reply):
    """A queued reply as the deliverer hands it to a channel: with the message id it
    quotes (a group's question), if any."""

    quote: int | None = None


def reply_from_json(text: str) -> QueuedAnswer:
    """The reply stored as ``text``."""
    data = json.loads(text)
    quote = (data.get("meta") or {}).get("quote")
    return QueuedAnswer(
        str(data["text"]),
        tuple(Choice(str(label), str(value)) for label, value in data.get("choices", [])),
        data.get("rate"),
        quote=int(quote) if isinstance(quote, int) else None,
    )


@dataclass(frozen=True)
class QueuedReply:
    """A row of ``serving_replies`` (the :class:`bot.delivery.Item` the deliverer sends)."""

    id: int
    inbox_id: int
    user_id: str
    chat_id: str
    attempts: int
    body: str


_REPLY_COLUMNS = "r.id, r.inbox_id, r.user_id, r.chat_id, r.attempts, r.body"
_REPLY_HEAD = (
    "NOT EXISTS (SELECT 1 FROM serving_replies e WHERE e.channel = r.channel AND e.chat_id = r.chat_id "
    "AND e.id < r.id AND e.state IN ('pending', 'sending'))"
)


class ReplyQueue:
    """The reply outbox as a :class:`bot.delivery.Queue`: a row is due when it is pending
    and due (or its claim is stale) and no earlier reply of its chat is still unsent, so
    each chat's replies go out in order. ``inbox_ids`` limits it to the replies of those
    messages (a worker sending what it just answered)."""

    def __init__(self, db: Database, inbox_ids: Iterable[int] = ()) -> None:
        self._db = db
        self._only = tuple(inbox_ids)

    def of_messages(self, inbox_ids: Iterable[int]) -> ReplyQueue:
        """This queue limited to the replies of ``inbox_ids``."""
        return ReplyQueue(self._db, inbox_ids)

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[QueuedReply]:
        """See :meth:`bot.delivery.Queue.due`."""
        only = ""
        if self._only:
            only = f" AND r.inbox_id IN ({', '.join('?' for _ in self._only)})"
        rows = await self._db.fetch(
            f"SELECT {_REPLY_COLUMNS} FROM serving_replies r WHERE r.channel = ?{only} "
            "AND ((r.state = 'pending' AND r.next_at <= ?) OR (r.state = 'sending' AND r.claimed_at <= ?)) "
            f"AND {_REPLY_HEAD} ORDER BY r.id LIMIT ?",
            (channel, *self._only, now, stale_before, limit),
        )
        return [QueuedReply(int(a), int(b), str(c), str(d), int(e), str(f)) for a, b, c, d, e, f in rows]

    async def claim(self, item: QueuedReply, now: float, stale_before: float) -> bool:
        """See :meth:`bot.delivery.Queue.claim` (a lease: a stale claim can be taken)."""
        return (
            await self._db.run(
                "UPDATE serving_replies SET state = 'sending', claimed_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND (state = 'pending' OR (state = 'sending' AND claimed_at <= ?))",
                (now, item.id, stale_before),
            )
            == 1
        )

    async def sent(self, item: QueuedReply, receipt: Any) -> None:
        """See :meth:`bot.delivery.Queue.sent` (the text is not kept)."""
        await self._db.run(
            "UPDATE serving_replies SET state = 'sent', sent_at = ?, body = '' WHERE id = ?", (time.time(), item.id)
        )

    async def retry(self, item: QueuedReply, next_at: float, error: str) -> None:
        """See :meth:`bot.delivery.Queue.retry`."""
        await self._db.run(
            "UPDATE serving_replies SET state = 'pending', next_at = ?, error = ? WHERE id = ?",
            (next_at, error[:300], item.id),
        )

    async def failed(self, item: QueuedReply, error: str) -> None:
        """See :meth:`bot.delivery.Queue.failed`."""
        await self._db.run(
            "UPDATE serving_replies SET state = 'failed', error = ?, body = '' WHERE id = ?", (error[:300], item.id)
        )

    async def blocked(self, channel: str, item: QueuedReply) -> None:
        """See :meth:`bot.delivery.Queue.blocked`: the chat's unsent replies are dropped."""
        await self._db.run(
            "UPDATE serving_replies SET state = 'blocked', body = '' "
            "WHERE channel = ? AND chat_id = ? AND state IN ('pending', 'sending')",
            (channel, item.chat_id),
        )

    def render(self, item: QueuedReply) -> Reply:
        """See :meth:`bot.delivery.Queue.render`."""
        return reply_from_json(item.body)

    async def unsent(self, inbox_ids: Iterable[int]) -> int:
        """How many replies of ``inbox_ids`` are not sent (nor given up) yet."""
        ids = tuple(inbox_ids)
        if not ids:
            return 0
        row = await self._db.fetchone(
            f"SELECT count(*) FROM serving_replies WHERE inbox_id IN ({', '.join('?' for _ in ids)}) "
            "AND state IN ('pending', 'sending')",
            ids,
        )
        return int(row[0]) if row else 0

    async def counts(self) -> dict[str, int]:
        """How many replies are in each state."""
        rows = await self._db.fetch("SELECT state, count(*) FROM serving_replies GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    async def forget_sent(self, older_than: float) -> int:
        """Delete replies finished more than ``older_than`` seconds ago."""
        return await self._db.run(
            "DELETE FROM serving_replies WHERE state IN ('sent', 'failed', 'blocked') AND coalesce(sent_at, next_at) < ?",
            (time.time() - older_than,),
        )
