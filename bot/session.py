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
#: Messages of a conversation remembered for a hand-over (resident's and bot's), and
#: how much of each.
MAX_TURNS = 6
TURN_CHARS = 300


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
    #: The last messages of the conversation as (author, text), author ``resident`` or
    #: ``bot``, each cut to :data:`TURN_CHARS` (a hand-over carries them to the desk).
    turns: list[tuple[str, str]] = field(default_factory=list)
    #: The announcements already shown in this conversation.
    notices_seen: set[int] = field(default_factory=set)
    #: The last question the bot could not place (refused), cut to :data:`TURN_CHARS`:
    #: the next message may be read together with it ("cần những gì" after a refusal).
    unplaced: str = ""

    def remember(self, author: str, text: str) -> None:
        """Keep one message of the conversation (the last :data:`MAX_TURNS` are kept)."""
        text = " ".join(text.split())
        if text:
            text = text if len(text) <= TURN_CHARS else text[: TURN_CHARS - 1] + "…"
            self.turns = [*self.turns[-(MAX_TURNS - 1) :], (author, text)]


class SessionStore:
    """Sessions keyed by (channel, chat id): the interface the engine uses
    (:meth:`load` at the start of a message, :meth:`save` at its end), here kept in
    memory (the default; :mod:`bot.serving.sessions` keeps them in the database, for
    several worker processes)."""

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

    async def load(self, channel: str, chat_id: str) -> Session:
        """The session a message of this chat continues (a fresh one when none is live)."""
        return self.get(channel, chat_id)

    async def save(self, channel: str, chat_id: str, session: Session) -> None:
        """Keep ``session`` as this chat's (in memory it is kept already)."""
        self._sessions[(channel, chat_id)] = session
