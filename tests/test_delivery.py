"""The outbox Deliverer on a small queue kept in a list (the Queue protocol's own
semantics: due rows, claims as leases, what became of each send)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot import delivery
from bot.delivery import Deliverer
from bot.messages import Reply
from bot.storage import StorageBusy


@dataclass
class Row:
    id: int
    user_id: str
    chat_id: str
    attempts: int = 0
    state: str = "queued"
    claimed_at: float = 0.0


@dataclass
class ListQueue:
    """A queue whose first ``busy_records`` records of a send fail as a busy database would."""

    rows: list[Row]
    busy_records: int = 0
    sent_ids: list[int] = field(default_factory=list)

    async def due(self, channel: str, now: float, limit: int, stale_before: float) -> list[Row]:
        return [r for r in self.rows if r.state == "queued" or (r.state == "sending" and r.claimed_at < stale_before)]

    async def claim(self, item: Row, now: float, stale_before: float) -> bool:
        if item.state == "sending" and item.claimed_at >= stale_before:
            return False
        item.state, item.claimed_at = "sending", now
        return True

    async def sent(self, item: Row, receipt: Any) -> None:
        if self.busy_records > 0:
            self.busy_records -= 1
            raise StorageBusy("test.sqlite3: the database is busy")
        item.state = "sent"
        self.sent_ids.append(item.id)

    async def retry(self, item: Row, next_at: float, error: str) -> None:
        item.state, item.attempts = "queued", item.attempts + 1

    async def failed(self, item: Row, error: str) -> None:
        item.state = "failed"

    async def blocked(self, channel: str, item: Row) -> None:
        item.state = "blocked"

    def render(self, item: Row) -> Reply:
        return Reply(f"tin {item.id}")


async def test_a_sent_message_whose_record_meets_a_busy_database_is_not_sent_again(monkeypatch) -> None:
    monkeypatch.setattr(delivery, "RECORD_PAUSES", (0.0, 0.0, 0.0))
    queue = ListQueue([Row(1, "u1", "c1"), Row(2, "u2", "c2")], busy_records=2)
    sends: list[str] = []

    async def send(chat_id: str, reply: Reply) -> None:
        sends.append(chat_id)

    deliverer = Deliverer(queue, clock=lambda: 1000.0, lease=90.0)
    assert await deliverer.deliver_pending("telegram", send) == 2
    assert sends == ["c1", "c2"] and queue.sent_ids == [1, 2]
    # a later pass, even after the lease, has nothing left to send
    late = Deliverer(queue, clock=lambda: 5000.0, lease=90.0)
    assert await late.deliver_pending("telegram", send) == 0
    assert sends == ["c1", "c2"]


def test_the_record_is_tried_for_less_than_a_reply_lease() -> None:
    assert sum(delivery.RECORD_PAUSES) < 30


async def test_a_record_that_never_succeeds_is_the_callers_error(monkeypatch) -> None:
    monkeypatch.setattr(delivery, "RECORD_PAUSES", (0.0,))
    queue = ListQueue([Row(1, "u1", "c1")], busy_records=5)

    async def send(chat_id: str, reply: Reply) -> None:
        return None

    with pytest.raises(StorageBusy):
        await Deliverer(queue, clock=lambda: 1000.0).deliver_pending("zalo", send)
