"""The inbox, the reply outbox, sessions and leases on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS, Backend, backend

from bot.config import Config
from bot.messages import Incoming, Reply
from bot.serving.inbox import Inbox, LostClaim, ReplyQueue
from bot.serving.leases import Lease
from bot.serving.limits import SharedRateLimiter
from bot.serving.schema import migrate
from bot.serving.sessions import DatabasePending, DatabaseSessions
from bot.serving.worker import Worker, WorkerOptions
from bot.config import RateLimitConfig
from bot.storage import Database, open_database


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str | None]]:
    """A database location of each backend: (SQLite path, PostgreSQL URL or None); a
    PostgreSQL database is dropped afterwards."""
    with backend(request, tmp_path, Backend) as place:
        yield place.path, place.url


@pytest.fixture
async def db(where: tuple[Path, str | None]) -> AsyncIterator[Database]:
    database = await open_database(*where)
    await migrate(database)
    yield database
    await database.close()


def msg(chat: str, text: str, channel: str = "telegram") -> Incoming:
    return Incoming(channel=channel, user_id=chat, chat_id=chat, text=text)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_chat_is_claimable_only_after_its_earlier_message_is_done(db: Database) -> None:
    inbox = Inbox(db)
    for i, chat in enumerate(["a", "a", "b", "a"]):
        assert await inbox.put(f"u{i}", msg(chat, f"m{i}"))
    first = await inbox.claim(10)
    assert [m.incoming.text for m in first] == ["m0", "m2"]  # the head of each chat only
    assert await inbox.claim(10) == []  # a's next waits for m0
    await inbox.complete(first[0], [Reply("r0")], {})
    (second,) = await inbox.claim(10)
    assert second.incoming.text == "m1"


async def test_a_redelivered_update_is_stored_once(db: Database) -> None:
    inbox = Inbox(db)
    assert await inbox.put("77", msg("a", "hỏi"))
    assert not await inbox.put("77", msg("a", "hỏi"))
    assert await inbox.put("77", msg("a", "hỏi", channel="zalo"))  # keys are per channel
    assert (await inbox.counts()) == {"new": 2}


async def test_a_lease_that_ran_out_is_taken_and_the_first_result_is_dropped(db: Database) -> None:
    clock = Clock()
    inbox = Inbox(db, lease=30, clock=clock)
    replies = ReplyQueue(db)
    await inbox.put("1", msg("a", "hỏi"))
    (slow,) = await inbox.claim()
    clock.now += 31  # its worker died, or is far too slow
    (again,) = await inbox.claim()
    assert again.id == slow.id and again.attempts == 2
    await inbox.complete(again, [Reply("một"), Reply("hai")], {})
    with pytest.raises(LostClaim):
        await inbox.complete(slow, [Reply("một"), Reply("hai")], {})
    assert [r.chat_id for r in await replies.due("telegram", clock.now + 1, 10, 0)] == ["a"]  # head only
    assert (await replies.counts()) == {"pending": 2}


async def test_a_message_whose_handling_kept_killing_workers_is_given_up(db: Database) -> None:
    clock = Clock()
    inbox = Inbox(db, lease=1, clock=clock, max_attempts=2)
    await inbox.put("1", msg("a", "hỏi"))
    await inbox.put("2", msg("a", "tiếp"))
    for _ in range(2):
        assert [m.incoming.text for m in await inbox.claim()] == ["hỏi"]
        clock.now += 2
    (after,) = await inbox.claim()  # the poison message no longer blocks its chat
    assert after.incoming.text == "tiếp"
    assert (await inbox.counts())["failed"] == 1


async def test_replies_of_a_chat_are_due_one_at_a_time_in_order(db: Database) -> None:
    inbox = Inbox(db)
    replies = ReplyQueue(db)
    for i in range(2):
        await inbox.put(str(i), msg("a", f"m{i}"))
        (m,) = await inbox.claim()
        await inbox.complete(m, [Reply(f"r{i}a"), Reply(f"r{i}b")], {})
    seen = []
    while due := await replies.due("telegram", 2e9, 10, 0):
        (item,) = due
        assert await replies.claim(item, 2e9, 0)
        assert not await replies.claim(item, 2e9, 0)  # claimed once
        seen.append(replies.render(item).text)
        await replies.sent(item, None)
    assert seen == ["r0a", "r0b", "r1a", "r1b"]


async def test_sessions_round_trip_and_time_out(db: Database) -> None:
    clock = Clock()
    sessions = DatabaseSessions(db, 60, clock=clock)
    session = await sessions.load("telegram", "a")
    session.procedure_id = "khai-sinh"
    session.remember("resident", "làm giấy khai sinh")
    session.notices_seen.add(3)
    await sessions.save("telegram", "a", session)
    back = await sessions.load("telegram", "a")
    assert (back.procedure_id, back.turns, back.notices_seen) == ("khai-sinh", session.turns, {3})
    assert (await sessions.for_commune("tan-hoa").load("telegram", "a")).procedure_id is None
    clock.now += 61
    assert (await sessions.load("telegram", "a")).procedure_id is None


async def test_pending_questions_are_shared(db: Database) -> None:
    pending = DatabasePending(db)
    await pending.put(("telegram", "u"), msg("u", "khai sinh cần gì"))
    await pending.put(("telegram", "u"), msg("u", ""), replace=False)
    assert await DatabasePending(db).has(("telegram", "u"))
    age, kept = await DatabasePending(db).pop(("telegram", "u"))
    assert kept.text == "khai sinh cần gì" and age >= 0
    assert await pending.pop(("telegram", "u")) is None


async def test_one_lease_holder_at_a_time(db: Database) -> None:
    clock = Clock()
    a, b = Lease(db, "jobs", "a", ttl=20, clock=clock), Lease(db, "jobs", "b", ttl=20, clock=clock)
    assert await a.hold() and not await b.hold()
    clock.now += 10
    assert await a.hold() and not await b.hold()  # renewed
    clock.now += 21  # a stopped renewing
    assert await b.hold() and not await a.hold()
    await b.release()
    assert await a.hold()


async def test_the_shared_limiter_spaces_sends_and_lets_a_chat_burst(db: Database) -> None:
    clock = Clock()
    limits = RateLimitConfig(per_second=10, chat_per_second=1, chat_burst=3, group_per_minute=20)
    one = SharedRateLimiter(db, "telegram", limits, clock=clock, is_group=lambda c: c.startswith("-"))
    other = SharedRateLimiter(db, "telegram", limits, clock=clock)  # another worker
    slots = [await (one if i % 2 else other).reserve(f"c{i}") for i in range(4)]
    assert [round(s - clock.now, 3) for s in slots] == [0.0, 0.1, 0.2, 0.3]  # 10 a second, all workers
    clock.now += 10
    chat = [round(await one.reserve("same") - clock.now, 3) for _ in range(5)]
    assert chat == [0.0, 0.1, 0.2, 1.0, 2.0]  # a burst of 3, then one a second
    clock.now += 100
    group = [round(await one.reserve("-100") - clock.now, 3) for _ in range(2)]
    assert group == [0.0, 3.0]  # 20 a minute in a group


async def test_a_follow_up_answered_by_another_worker_keeps_the_topic(where: tuple[Path, str | None], config: Config) -> None:
    path, url = where
    config = dataclasses.replace(config, database=dataclasses.replace(config.database, path=path, url=url))
    first = await Worker.open(config, WorkerOptions(index=0))
    second = await Worker.open(config, WorkerOptions(index=1))
    try:
        await first.inbox.put("1", msg("42", "làm giấy khai sinh cần gì"))
        (question,) = await first.inbox.claim()
        await first.handle(question)
        await second.inbox.put("2", msg("42", "thế còn lệ phí?"))
        (follow_up,) = await second.inbox.claim()
        await second.handle(follow_up)
        rows = await first.db.fetch("SELECT inbox_id, body FROM serving_replies ORDER BY id")
        assert {r[0] for r in rows} == {question.id, follow_up.id}
        follow_texts = [r[1] for r in rows if r[0] == follow_up.id]
        assert any("khai sinh" in t.lower() and "lệ phí" in t.lower() for t in follow_texts), follow_texts
    finally:
        await first.close()
        await second.close()
