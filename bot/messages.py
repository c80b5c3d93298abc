"""Values exchanged between channel adapters and the dialogue engine.

A channel adapter turns whatever its messenger delivers into an :class:`Incoming`,
hands it to :meth:`bot.dialogue.Engine.handle`, and renders the :class:`Response`'s
replies: text, plus choices as buttons (Telegram) or a numbered list (Zalo, console).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Intent(StrEnum):
    """What the engine understood a message to be (the ``intent`` of ``motcua ask --json``)."""

    PROCEDURE = "procedure"
    STATUS = "status"
    HELP = "help"
    REFERRAL = "referral"
    UNKNOWN = "unknown"
    #: The resident asked for a person (or wrote while waiting for one).
    HANDOVER = "handover"


class Aspect(StrEnum):
    """The part of a procedure a question asks about."""

    DOCUMENTS = "documents"
    FEE = "fee"
    TIME = "time"
    WHERE = "where"
    FORMS = "forms"
    #: Who may file, on what conditions, whether online or through someone else.
    CONDITIONS = "conditions"


@dataclass(frozen=True)
class Incoming:
    """One message from a user, as any channel sees it.

    ``choice`` is set when the user pressed a button: it carries that
    :attr:`Choice.data`, and ``text`` the button's label.
    """

    channel: str
    user_id: str
    chat_id: str
    text: str
    forwarded: bool = False
    choice: str | None = None


#: Choice data must fit Telegram's callback_data limit.
MAX_CHOICE_DATA_BYTES = 64


@dataclass(frozen=True)
class Choice:
    """An option offered to the user: a button label and the data sent back when chosen."""

    label: str
    data: str

    def __post_init__(self) -> None:
        if len(self.data.encode("utf-8")) > MAX_CHOICE_DATA_BYTES:
            raise ValueError(f"choice data longer than {MAX_CHOICE_DATA_BYTES} bytes: {self.data!r}")


@dataclass(frozen=True)
class Reply:
    """One message to send back: plain text (no markup) and optional choices.

    ``rate`` is the id of the procedure this reply answers about, when the resident may
    rate the answer: Telegram shows a 👍/👎 row, Zalo and the console a line asking for
    "0" when it was wrong."""

    text: str
    choices: tuple[Choice, ...] = ()
    rate: str | None = None


@dataclass(frozen=True)
class Feedback:
    """A resident's rating of an answer about ``procedure_id``, with the question that
    answer was for (empty when unknown)."""

    procedure_id: str
    up: bool
    question: str = ""


@dataclass(frozen=True)
class MatchInfo:
    """A ranked catalogue match, as reported by ``motcua ask --json``."""

    id: str
    name: str
    score: float


@dataclass
class Response:
    """Everything the engine says in answer to one :class:`Incoming`."""

    intent: Intent
    replies: list[Reply]
    matches: list[MatchInfo] = field(default_factory=list)
    aspect: Aspect | None = None
    #: True when the replies already quote the question(s) they answer (a bundle).
    quotes_question: bool = False
    #: The rating this message gave (a 👍/👎 press, or "0" after a rated answer).
    feedback: Feedback | None = None
    #: True when the engine offered a choice because it was unsure what was meant.
    unsure: bool = False

    def to_json(self) -> dict:
        """The ``motcua ask --json`` object for this response."""
        return {
            "intent": self.intent.value,
            "matches": [
                {"id": m.id, "name": m.name, "score": round(m.score, 1)} for m in self.matches[:3]
            ],
            "aspect": self.aspect.value if self.aspect else None,
            "reply": "\n\n".join(r.text for r in self.replies),
            "choices": [c.label for r in self.replies for c in r.choices],
        }
