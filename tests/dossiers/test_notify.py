"""Delivering follow notifications from the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import Config
from bot.errors import RecipientBlocked
from bot.messages import Reply
from bot.dossiers.notify import Notifier
from bot.dossiers.store import DossierRow, Store
from tests.dossiers.conftest import Db

CODE = "000.00.14.H56-261124-0008"
OTHER = "000.00.14.H56-261125-0015"


def dossier(code: str, status: str) -> DossierRow:
    return DossierRow(code, "Đăng ký nhận cha, mẹ, con", None, "Bùi Thị Lan", "0397000108",
                      "Thôn 8, xã Tân Hòa", "2026-11-24", "2026-12-01", None, status)


def sync(store: Store, *rows: DossierRow) -> None:
    with store.sync_writer("test") as w:
        w.write(list(rows))
        w.finish(read=len(rows), rejected=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Outbox:
    """A send function recording what it sent; fails or blocks on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []
        self.fail_next = 0
        self.blocked: set[str] = set()

    async def __call__(self, chat_id: str, reply: Reply) -> None:
        if chat_id in self.blocked:
            raise RecipientBlocked(chat_id)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("network down")
        self.sent.append((chat_id, reply))


@pytest.fixture
async def store(db: Db):
    s = await db.open()
    sync(s, dossier(CODE, "processing"), dossier(OTHER, "supplement"))
    yield s
    await s.close()


async def test_each_follower_gets_one_message_on_their_channel(store: Store) -> None:
    await store.follow("telegram", "t1", "chat-t1", CODE)
    await store.follow("zalo", "z1", "chat-z1", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "supplement"))
    notifier = Notifier(store, Config(), clock=Clock())
    telegram, zalo = Outbox(), Outbox()
    assert await notifier.deliver_pending("telegram", telegram) == 1
    assert await notifier.deliver_pending("telegram", telegram) == 0  # never twice
    assert await notifier.deliver_pending("zalo", zalo) == 1
    (chat, reply), = telegram.sent
    assert chat == "chat-t1"
    assert f"Hồ sơ {CODE} vừa chuyển sang trạng thái: Đã xử lý xong." in reply.text
    assert "mang theo giấy biên nhận" in reply.text and "/huytheodoi" in reply.text
    assert reply.choices[0].data == f"unfollow:{CODE}"
    assert "Bùi" not in reply.text and "0397" not in reply.text and "Thôn 8" not in reply.text
    assert [c for c, _ in zalo.sent] == ["chat-z1"]


async def test_delivery_survives_a_restart_without_duplicates(db: Db) -> None:
    store = await db.open()
    sync(store, dossier(CODE, "processing"))
    await store.follow("telegram", "t1", "chat-t1", CODE)
    sync(store, dossier(CODE, "supplement"))
    await store.close()

    store = await db.open()  # restart: the queue is still there
    first = Outbox()
    assert await Notifier(store, Config()).deliver_pending("telegram", first) == 1
    await store.close()

    store = await db.open()  # restart again: nothing is sent twice
    second = Outbox()
    assert await Notifier(store, Config()).deliver_pending("telegram", second) == 0
    assert len(first.sent) == 1 and second.sent == []
    await store.close()


async def test_failures_are_retried_with_backoff_then_given_up(store: Store) -> None:
    await store.follow("telegram", "t1", "chat-t1", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "supplement"))
    clock = Clock()
    notifier = Notifier(store, Config(), clock=clock, base_delay=30, max_delay=100, max_attempts=4)
    assert [notifier.backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
    send = Outbox()
    send.fail_next = 2
    assert await notifier.deliver_pending("telegram", send) == 0
    clock.now += 29
    assert await notifier.deliver_pending("telegram", send) == 0  # not due yet
    clock.now += 1
    assert await notifier.deliver_pending("telegram", send) == 0  # second failure
    clock.now += 60
    assert await notifier.deliver_pending("telegram", send) == 1
    assert len(send.sent) == 1

    sync(store, dossier(CODE, "returned"), dossier(OTHER, "supplement"))
    send.fail_next = 10
    for _ in range(4):
        await notifier.deliver_pending("telegram", send)
        clock.now += 1000
    assert await store.outbox_counts("telegram") == {"sent": 1, "failed": 1}


async def test_blocked_user_is_unsubscribed_and_their_queue_dropped(store: Store) -> None:
    await store.follow("telegram", "t1", "chat-t1", CODE)
    await store.follow("telegram", "t1", "chat-t1", OTHER)
    await store.follow("telegram", "t2", "chat-t2", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "financial"))
    send = Outbox()
    send.blocked.add("chat-t1")
    assert await Notifier(store, Config()).deliver_pending("telegram", send) == 1
    assert [c for c, _ in send.sent] == ["chat-t2"]
    assert await store.follows_of("telegram", "t1") == []
    assert await store.follows_of("telegram", "t2") == [CODE]
    assert await store.outbox_counts("telegram") == {"sent": 1, "dropped": 2}


async def test_run_loop_delivers_until_stopped(store: Store) -> None:
    await store.follow("zalo", "z1", "chat-z1", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "supplement"))
    stop = asyncio.Event()
    delivered = asyncio.Event()

    async def send(chat_id: str, reply: Reply) -> None:
        delivered.set()

    task = asyncio.create_task(Notifier(store, Config()).run("zalo", send, stop, interval=0.01))
    await asyncio.wait_for(delivered.wait(), 30)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert await store.outbox_counts("zalo") == {"sent": 1}


async def test_overdue_notification_apologises(store: Store) -> None:
    from datetime import date

    await store.follow("telegram", "t1", "chat-t1", OTHER)
    sync(store, dossier(CODE, "processing"), dossier(OTHER, "processing"))
    send = Outbox()
    await Notifier(store, Config(), today=lambda: date(2026, 12, 5)).deliver_pending("telegram", send)
    text = send.sent[0][1].text
    assert "Đang xử lý" in text and "xin lỗi" in text and Config().commune.hotline in text


# -- issue 9: nothing accepted is lost --------------------------------------------------


class Dying:
    """A send function that 'kills the bot' (an exception nothing handles) while sending."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, chat_id: str, reply: Reply) -> None:
        self.calls += 1
        raise KeyboardInterrupt  # like kill -9 in the middle of a retried send


async def test_a_row_left_sending_by_a_dead_bot_is_delivered_once_after_restart(db: Db) -> None:
    store = await db.open()
    sync(store, dossier(CODE, "processing"))
    await store.follow("telegram", "t1", "chat-t1", CODE)
    sync(store, dossier(CODE, "supplement"))
    clock = Clock()
    dying = Dying()
    with pytest.raises(KeyboardInterrupt):
        await Notifier(store, Config(), clock=clock, lease=300).deliver_pending("telegram", dying)
    assert dying.calls == 1
    assert await store.outbox_counts("telegram") == {"sending": 1}
    await store.close()

    store = await db.open()  # the next start
    send = Outbox()
    notifier = Notifier(store, Config(), clock=clock, lease=300)
    clock.now += 60  # within the lease: the dead sender might still have been sending
    assert await notifier.deliver_pending("telegram", send) == 0
    clock.now += 241  # the lease is over: the row is claimable again
    assert await notifier.deliver_pending("telegram", send) == 1
    clock.now += 10_000
    assert await notifier.deliver_pending("telegram", send) == 0  # and only once
    assert [c for c, _ in send.sent] == ["chat-t1"]
    assert await store.outbox_counts("telegram") == {"sent": 1}
    await store.close()


async def test_a_claim_that_is_still_fresh_is_not_taken_twice(store: Store) -> None:
    await store.follow("zalo", "z1", "chat-z1", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "supplement"))
    (item,) = await store.due_notifications("zalo", 1e12)
    assert await store.claim_notification(item.id, 1000.0, stale_before=700.0)
    assert not await store.claim_notification(item.id, 1100.0, stale_before=800.0)  # leased
    assert await store.claim_notification(item.id, 1400.0, stale_before=1100.0)  # expired


async def test_a_send_that_keeps_killing_the_bot_is_given_up(store: Store) -> None:
    await store.follow("telegram", "t1", "chat-t1", CODE)
    sync(store, dossier(CODE, "done"), dossier(OTHER, "supplement"))
    clock = Clock()
    notifier = Notifier(store, Config(), clock=clock, lease=10, max_attempts=3)
    for _ in range(3):
        with pytest.raises(KeyboardInterrupt):
            await notifier.deliver_pending("telegram", Dying())
        clock.now += 11
    assert await notifier.deliver_pending("telegram", Outbox()) == 0
    assert await store.outbox_counts("telegram") == {"failed": 1}


async def test_rows_left_sending_by_an_older_version_are_delivered_after_the_upgrade(tmp_path: Path) -> None:
    import sqlite3

    from bot.dossiers.store import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # a database as the previous version left it
        db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO dossiers (code, status, changed_at) VALUES (?, 'supplement', '2026-11-30')", (CODE,)
        )
        db.execute(
            "INSERT INTO status_history (id, code, old_status, new_status, changed_at) "
            "VALUES (1, ?, 'processing', 'supplement', '2026-11-30')",
            (CODE,),
        )
        db.execute(
            "INSERT INTO outbox (history_id, channel, user_id, chat_id, state, attempts, "
            "next_attempt_at, created_at) VALUES (1, 'zalo', 'z1', 'chat-z1', 'sending', 1, 0, '2026-11-30')"
        )
    store = await Store.open(path)
    send = Outbox()
    assert await Notifier(store, Config()).deliver_pending("zalo", send) == 1
    assert [c for c, _ in send.sent] == ["chat-z1"]
    await store.close()


class SlowOutbox(Outbox):
    """Sends take a moment, so that two workers' passes interleave."""

    async def __call__(self, chat_id: str, reply: Reply) -> None:
        await asyncio.sleep(0.002)
        await super().__call__(chat_id, reply)


async def test_two_workers_on_one_outbox_deliver_each_notification_once(db: Db) -> None:
    first, second = await db.open(), await db.open()  # two processes' connections
    try:
        sync(first, dossier(CODE, "processing"))
        for n in range(40):
            await first.follow("telegram", f"u{n}", f"chat-{n}", CODE)
        sync(first, dossier(CODE, "done"))
        sent = SlowOutbox()
        workers = [Notifier(s, Config(), clock=Clock(), batch=10) for s in (first, second, first, second)]
        counts = await asyncio.gather(*(w.deliver_pending("telegram", sent) for w in workers))
        assert sum(counts) == 40
        chats = [c for c, _ in sent.sent]
        assert sorted(chats) == sorted(f"chat-{n}" for n in range(40))  # each once, none twice
        assert await first.outbox_counts() == {"sent": 40}
        assert await Notifier(second, Config(), clock=Clock()).deliver_pending("telegram", sent) == 0
    finally:
        await first.close()
        await second.close()
