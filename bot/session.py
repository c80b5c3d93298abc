"""Per-chat conversation memory with a time-out.

The engine remembers, per (channel, chat), the procedure just discussed, the aspect
asked, and the choices last offered, so that "thế còn lệ phí?" or "2" make sense.
Memory is forgotten after a quiet period and bounded in size.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.messages import Aspect, Choice

#: How many conversations are remembered at once (least recently used forgotten first).
MAX_SESSIONS = 50_000


@dataclass
class Session:
    """What one chat is talking about."""

    procedure_id: str | None = None
    aspects: list[Aspect] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    #: The procedure the last reply can be rated for (a typed "0" rates it 👎).
    rated: str | None = None
    #: The question each recently answered procedure was asked with (for a 👎), and the
    #: procedures already rated in this conversation (one rating each).
    questions: dict[str, str] = field(default_factory=dict)
    rated_ids: set[str] = field(default_factory=set)
    updated: float = 0.0


class SessionStore:
    """In-memory sessions keyed by (channel, chat id)."""

    def __init__(self, timeout_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._timeout = timeout_seconds
        self._clock = clock
        self._sessions: OrderedDict[tuple[str, str], Session] = OrderedDict()

    def get(self, channel: str, chat_id: str) -> Session:
        """The live session of a chat, or a fresh one if none or timed out."""
        key = (channel, chat_id)
        now = self._clock()
        session = self._sessions.get(key)
        if session is None or now - session.updated > self._timeout:
            session = Session()
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        session.updated = now
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session
