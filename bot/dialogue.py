"""The dialogue engine: one incoming message in, the replies a person sees out.

It is channel-agnostic (no messenger library here): Telegram, Zalo and the console
all call :meth:`Engine.handle`. It decides the intent (help, procedure, referral,
dossier status, unknown), keeps short per-chat memory for follow-ups ("thế còn lệ
phí?"), corrections ("à không, ý tôi là ...") and numbered choices ("2"), and words the
answer through :class:`bot.procedures.wording.ReplyWriter`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Protocol

from bot.procedures.catalogue import Catalogue, Family, Procedure, load_group_labels
from bot.procedures.families import FamilyReader
from bot.dossiers.codes import CodeFinder
from bot.config import Config
from bot.procedures.lexicon import Lexicon
from bot.procedures.clauses import asked_part, refocus
from bot.procedures.matcher import Decision, Match, Matcher, MatcherIndex
from bot.messages import Aspect, Choice, Feedback, Incoming, Intent, MatchInfo, Reply, Response
from bot.procedures.normalize import Normalizer, clean
from bot.bundle import MAX_PARTS, split_bundle
from bot.topics import PART_FITS, RECOVER_FLOOR, STRONG_MATCH, TopicReader
from bot.procedures.wording import (
    CHOICE_HANDOVER,
    CHOICE_MENU,
    CHOICE_RATE,
    CHOICE_STATUS_HELP,
    STANDING_CHOICES,
    ReplyWriter,
    choice_procedure,
)
from bot.session import TURN_CHARS, Session, SessionStore
from bot.staff.hours import OfficeHours, vietnam_now

log = logging.getLogger(__name__)

#: Longest message text the engine (and the status desk it calls) reads; the rest of a very
#: long message is ignored.
MAX_TEXT_CHARS = 4000
#: How much of a forwarded question is quoted back, so the reply stands on its own.
QUOTE_CHARS = 120

#: Share of a part's words an entry must use to count as covering that part.
COVERS_PART = 0.9

_ANY_DIGITS = re.compile(r"\S*\d\S*")
#: A question that ends asking yes or no ("... không?", "... ko", "... chưa ạ").
_YES_NO = re.compile(r"\b(?:không|ko|k|hok|hông|khong|chưa|chua)\s*(?:ạ|a|nhỉ|nhi|vậy|vay|thế|the)?\s*\??\s*$", re.IGNORECASE)
_NUMBER_CHOICE = re.compile(r"^(?:so|chon|cau|muc)?\s*(\d{1,2})$")
_COMMAND = re.compile(r"^/([a-z_]+)(?:@\S+)?\s*(.*)$", re.IGNORECASE | re.DOTALL)


class StatusService(Protocol):
    """What the engine needs from the dossier side (see :class:`bot.dossiers.desk.StatusDesk`)."""

    def find_codes(self, text: str) -> list[str]: ...

    async def answer(self, msg: Incoming, text: str) -> Response: ...

    async def follow(self, msg: Incoming, code: str) -> Response: ...

    async def unfollow(self, msg: Incoming, code: str) -> Response: ...

    async def digest(self, msg: Incoming) -> Response: ...

    async def pending(self, msg: Incoming) -> Response | None: ...


class HandoverService(Protocol):
    """Hand-overs to a person (see :class:`bot.staff.relay.HandoverRelay`)."""

    async def request(self, msg: Incoming, earlier: Sequence[tuple[str, str]]) -> Reply:
        """The resident asks for a person; ``earlier``: the conversation's last messages."""
        ...

    async def note(self, msg: Incoming) -> Reply | None:
        """The resident wrote while a hand-over of theirs is open: pass it on, and return
        the reply for when the bot has no answer of its own (None: none open)."""
        ...


class NoticeService(Protocol):
    """The desk's current announcements (see :class:`bot.staff.notices.NoticeStore`)."""

    async def current(self, now: datetime) -> Sequence: ...


def _infos(matches: list[Match]) -> list[MatchInfo]:
    return [MatchInfo(m.procedure.id, m.procedure.name, m.score) for m in matches[:3]]


class Recorder(Protocol):
    """What the engine tells the staff side about each message it handled (see
    :class:`bot.staff.recorder.StaffRecorder`): counts, missed questions, ratings."""

    async def record(self, msg: Incoming, response: Response) -> None: ...


#: Questions remembered per chat for a later 👎 (the most recent answers).
RATED_QUESTIONS = 5
#: The session of the message being handled (loaded once per message, saved at its end).
_LIVE: ContextVar[Session] = ContextVar("motcua_live_session")


class Engine:
    """Answers messages from any channel."""

    def __init__(
        self,
        config: Config,
        catalogue: Catalogue,
        *,
        normalizer: Normalizer,
        lexicon: Lexicon,
        matcher: Matcher,
        status: StatusService | None = None,
        recorder: Recorder | None = None,
        sessions: SessionStore | None = None,
        handovers: HandoverService | None = None,
        notices: NoticeService | None = None,
        clock: Callable[[], datetime] = vietnam_now,
    ) -> None:
        self.config = config
        self.catalogue = catalogue
        self.status = status
        self.handovers = handovers
        self.notices = notices
        self._clock = clock
        self._hours = OfficeHours.from_config(config.office_hours)
        self._normalizer = normalizer
        self._lexicon = lexicon
        self._matcher = matcher
        self._families = FamilyReader(catalogue, normalizer, lexicon, matcher, config.matching)
        self._topics = TopicReader(catalogue, normalizer, lexicon, matcher)
        self._writer = ReplyWriter(config.commune)
        self._groups = catalogue.groups(load_group_labels())
        self._codes = CodeFinder(config.status.code_pattern, config.status.code_prefix)
        self._sessions = sessions or SessionStore(config.dialogue.session_timeout_minutes * 60)
        self._recorder = recorder

    def use_sessions(self, sessions: SessionStore) -> None:
        """Keep conversations in ``sessions`` from now on (e.g. the database's, shared by
        worker processes)."""
        self._sessions = sessions

    @property
    def matcher(self) -> Matcher:
        """The catalogue matcher this engine answers with."""
        return self._matcher

    def use_catalogue(self, catalogue: Catalogue, index: MatcherIndex | None = None) -> None:
        """Answer from ``catalogue`` from now on (a reload); conversations are kept."""
        matcher = Matcher(catalogue, self._normalizer, self._lexicon, self.config.matching, index)
        families = FamilyReader(catalogue, self._normalizer, self._lexicon, matcher, self.config.matching)
        topics = TopicReader(catalogue, self._normalizer, self._lexicon, matcher)
        groups = catalogue.groups(load_group_labels())
        self.catalogue, self._matcher, self._families, self._groups = catalogue, matcher, families, groups
        self._topics = topics

    @classmethod
    def build(
        cls,
        config: Config,
        catalogue: Catalogue,
        status: StatusService | None = None,
        *,
        recorder: Recorder | None = None,
        index: MatcherIndex | None = None,
        handovers: HandoverService | None = None,
        notices: NoticeService | None = None,
        clock: Callable[[], datetime] = vietnam_now,
    ) -> Engine:
        """An engine with the bundled normaliser and lexicon for ``catalogue``; ``index``
        is the matcher's prebuilt index (see :mod:`bot.procedures.compiled`), if at hand."""
        normalizer = Normalizer.default()
        lexicon = Lexicon.load(normalizer)
        matcher = Matcher(catalogue, normalizer, lexicon, config.matching, index)
        return cls(
            config, catalogue, normalizer=normalizer, lexicon=lexicon, matcher=matcher, status=status,
            recorder=recorder, handovers=handovers, notices=notices, clock=clock,
        )

    async def handle(self, msg: Incoming) -> Response:
        """The response to one message. Never raises: failures get an apology."""
        if len(msg.text) > MAX_TEXT_CHARS:  # nothing below ever sees more (bounded work)
            msg = dataclasses.replace(msg, text=msg.text[:MAX_TEXT_CHARS])
        try:
            session = await self._sessions.load(msg.channel, msg.chat_id)
            _LIVE.set(session)
            if msg.forwarded:  # someone else's question: no carry-over from this chat
                session.procedure_id, session.aspects, session.choices = None, [], []
            noted = await self._note(msg)
            response = await self._respond(msg, session)
            if noted is not None and response.intent is Intent.UNKNOWN:
                # Written while waiting for a person, and the bot has no answer: it is for them.
                response = Response(Intent.HANDOVER, [noted], response.matches, response.aspect)
            await self._add_notices(session, response)
        except Exception:
            log.exception("engine failed on a message from channel %s", msg.channel)
            response = Response(Intent.UNKNOWN, [self._writer.failure()])
            await self._record(msg, response)
            return response
        if msg.forwarded and msg.text.strip() and not response.quotes_question:
            quote = clean(msg.text)
            quote = quote if len(quote) <= QUOTE_CHARS else quote[: QUOTE_CHARS - 1] + "…"
            first = response.replies[0]
            response.replies[0] = dataclasses.replace(first, text=f"Về câu hỏi: «{quote}»\n\n{first.text}")
        session.rated = next((r.rate for r in response.replies if r.rate), None)  # a "0" rates it
        await self._record(msg, response)
        # A typed number picks from what was offered last, and only from that.
        session.choices = [c for r in response.replies for c in r.choices]
        if msg.choice is None:
            session.remember("resident", msg.text)
        session.remember("bot", "\n".join(r.text for r in response.replies))
        await self._sessions.save(msg.channel, msg.chat_id, session)
        return response

    async def _note(self, msg: Incoming) -> Reply | None:
        """Pass what the resident wrote to their open hand-over, if any (never raising:
        the bot still answers when the hand-over tables fail)."""
        text = msg.text.strip()
        if self.handovers is None or msg.choice is not None or _COMMAND.match(text) or text.isdigit():
            return None  # buttons, commands, a typed choice or digits asked for: not for the desk
        if self._lexicon.asks_person(self._normalizer.tokens(msg.text)):
            return None  # the request itself adds it
        try:
            return await self.handovers.note(msg)
        except Exception:
            log.exception("passing a message to its hand-over failed (channel %s)", msg.channel)
            return None

    async def _add_notices(self, session: Session, response: Response) -> None:
        """The desk's announcements not yet shown in this conversation, under the last reply."""
        if self.notices is None or not response.replies:
            return
        try:
            fresh = [n for n in await self.notices.current(self._clock()) if n.id not in session.notices_seen]
        except Exception:
            log.exception("reading the announcements failed")
            return
        if not fresh:
            return
        session.notices_seen.update(n.id for n in fresh)
        last = response.replies[-1]
        lines = "\n".join(f"📢 Thông báo: {n.text}" for n in fresh)
        response.replies[-1] = dataclasses.replace(last, text=f"{last.text}\n\n{lines}")

    async def _handover(self, msg: Incoming, session: Session) -> Response:
        """The resident asks for a person of the desk."""
        if self.handovers is None:
            return Response(Intent.HANDOVER, [self._writer.no_handover()])
        return Response(Intent.HANDOVER, [await self.handovers.request(msg, list(session.turns))])

    async def _respond(self, msg: Incoming, session: Session) -> Response:
        if msg.choice is not None:
            return await self._on_choice(msg, msg.choice, session)
        if self.status is not None:
            pending = await self.status.pending(msg)
            if pending is not None:
                self._follow_up_on(msg, pending)
                return pending
        text = clean(msg.text[:MAX_TEXT_CHARS])
        if not text:
            return Response(Intent.HELP, [self._writer.not_text()])
        command = _COMMAND.match(text)
        if command:
            return await self._on_command(msg, command.group(1).lower(), command.group(2), session)

        tokens = self._normalizer.tokens(text)
        normalized = " ".join(tokens)
        if self._lexicon.asks_person(tokens):
            return await self._handover(msg, session)
        number = _NUMBER_CHOICE.match(normalized)
        if number and session.choices:
            index = int(number.group(1)) - 1
            if 0 <= index < len(session.choices):
                return await self._on_choice(msg, session.choices[index].data, session)
        if normalized == "0" and session.rated:  # "Trả lời 0 nếu câu trả lời chưa đúng."
            return self._rate(session.rated, False, session)
        answer = self._answer_to_question(text, tokens, session)
        if answer is not None:
            return answer
        picked = self._typed_choice(tokens, session)
        if picked is not None:
            return await self._on_choice(msg, picked.data, session)
        parts = split_bundle(text)
        if len(parts) > 1:
            return await self._bundle(msg, parts)
        has_code = bool(self._find_codes(text))
        follow = re.match(r"^(huy\s+)?theo doi\b", normalized)
        if follow and has_code:
            return await self._on_command(msg, "huytheodoi" if follow.group(1) else "theodoi", text, session)
        if has_code and not follow:
            # "hồ sơ 261119-0013 đến đâu rồi, với lại khai tử cần gì": both are answered.
            rest = " ".join(self._lexicon.without_status(self._normalizer.tokens(_ANY_DIGITS.sub(" ", text))))
            ranked = self._matcher.rank_words(rest)
            if self._matcher.decide(ranked) is Decision.ANSWER:
                return await self._bundle(msg, [text, rest], quote=False, status_first=True)
        if has_code or self._lexicon.asks_status(tokens):
            response = await self._status(msg, text)
            if not response.matches:  # "hồ sơ kết hôn của em xong chưa": follow-ups are about kết hôn
                self._topic_from_status(text, session)
            return response
        if not normalized:  # only emoji or punctuation
            return Response(Intent.UNKNOWN, [self._writer.unknown()])
        if self._lexicon.is_greeting(tokens):
            return Response(Intent.HELP, [self._writer.help()])
        if self._lexicon.asks_word(tokens):  # "khai sinh tiếng Anh là gì": no procedure asked
            return Response(Intent.UNKNOWN, [self._writer.word_question()])
        desk = self._lexicon.desk_topic(tokens)
        if desk is not None:
            topic, covered = desk
            day = self._lexicon.weekday_named(tokens) if topic == "hours" else None
            if day is not None:  # "thứ 7 có làm việc không": the day's words name no procedure
                covered = covered | day[1]
            rest = " ".join(t for i, t in enumerate(tokens) if i not in covered)
            rest_tokens = rest.split()
            asks_more = topic == "thanks" and (  # "ok cảm ơn, còn phí thì sao": the question
                self._lexicon.detect_aspects(rest_tokens) or self._lexicon.is_followup(rest_tokens)
            )
            if not self._matcher.query_tokens(rest) and not asks_more:  # only about the desk
                today = None
                if topic == "hours":
                    now = self._clock()
                    today = self._hours.day_note(day[0], now) if day is not None else self._hours.today_note(now)
                return Response(Intent.HELP, [self._writer.desk(topic, today)])
        return self._procedure_question(text, tokens, session)

    def _typed_choice(self, tokens: list[str], session: Session) -> Choice | None:
        """The offered choice a typed answer picks ("Lệ phí", "cái thứ hai", "bản sao thôi")."""
        if len(tokens) > 8:
            return None
        for standing in STANDING_CHOICES:
            if tokens == self._normalizer.tokens(standing.label):
                return standing
        if not session.choices:
            return None
        labels = [self._normalizer.tokens(c.label) for c in session.choices]
        index = self._lexicon.picked(tokens, labels)
        return session.choices[index] if index is not None else None

    def _answer_to_question(self, text: str, tokens: list[str], session: Session) -> Response | None:
        """The reply to a yes, a no or a short description typed after the bot asked
        something: "Có phải ông/bà hỏi về ...?" (yes: that procedure; no: not found), or
        a family's deciding question (the members that answer means; a description
        picks the member whose situation it fits). None when nothing was asked."""
        offered = [c.data[2:] for c in session.choices if c.data.startswith("p:")]
        yes = self._lexicon.yes_no(tokens)
        asked: list[Aspect] = []  # an aspect asked after the yes ("đúng rồi, cần giấy gì")
        confirming = bool(session.choices) and session.choices[-1].data == CHOICE_MENU and len(offered) == 1
        family = self._families.asked(session.procedure_id, offered)
        if yes is None and confirming:  # not after a family's question: "có ... không?" opens questions
            head, rest = self._lexicon.yes_no_head(tokens)
            asked = self._lexicon.detect_aspects(rest) or self._lexicon.bare_aspects_of(rest)
            if head and asked and (
                not self._matcher.query_tokens(" ".join(rest)) or self._lexicon.only_generic(rest)
            ):
                yes = head
            else:
                asked = []
        if confirming and yes is not None:
            proc = self.catalogue.get(offered[0])  # the bot asked to confirm one procedure
            if yes and proc is not None:
                return self._answer(proc, asked or session.aspects, session, [])
            return Response(Intent.UNKNOWN, [self._writer.unknown()])
        if family is None:  # a bare yes or no answers nothing: greet back, as to "vâng"
            return Response(Intent.HELP, [self._writer.help()]) if yes is not None and not asked else None
        if yes is None:
            # "sổ ở xã vẫn còn": the answer closing words of the question asked.
            tail, before = self._lexicon.yes_no_tail(tokens)
            named = self._matcher.query_tokens(" ".join(before))
            words = set(self._normalizer.tokens(family.question))
            if tail is not None and named and sum(w in words for w in named) * 2 >= len(named):
                yes = tail
        if yes is not None:
            procs = self._families.answered(family, yes)
        elif self._matcher.decide(self._matcher.rank(text)) is Decision.NONE:
            described = self._families.described(family, tokens)
            procs = [described] if described is not None else []
        else:
            return None  # a question of its own
        if len(procs) == 1:
            return self._answer(procs[0], asked or session.aspects, session, [])
        if procs:
            session.procedure_id = None
            return Response(Intent.PROCEDURE, [self._writer.choose(procs)], _infos([]))
        return None

    # -- procedures ---------------------------------------------------------------------

    def _procedure_question(self, text: str, tokens: list[str], session: Session) -> Response:
        aspects = self._lexicon.detect_aspects(tokens)
        followup = self._lexicon.is_followup(tokens)
        # The asking clause chooses among what the whole message names ("kết hôn lần 2 cần
        # gì, tôi ly hôn rồi": the marriage, not the divorce).
        matches = refocus(self.catalogue, self._matcher, self._matcher.rank(text), asked_part(text, self._normalizer, self._lexicon))
        decision = self._matcher.decide(matches)
        current = self.catalogue.get(session.procedure_id) if session.procedure_id else None
        if current is not None and self._lexicon.negates(tokens):
            # "không phải, con em sinh ở Nhật": not the topic just answered, whatever else it is.
            matches = [m for m in matches if m.procedure.id != current.id]
            decision, current = self._matcher.decide(matches), None
        # "thì làm thủ tục gì": a question about a whole procedure, the aspect asked before stays behind.
        overview = self._lexicon.asks_overview(tokens)
        carried = [] if aspects or overview else session.aspects
        unplaced, session.unplaced = session.unplaced, ""
        # Right after "Có phải ông/bà hỏi về ...?" or "which one?", a follow-up is about the
        # procedure offered first (the best one), as a yes would be.
        offered = [c.data[2:] for c in session.choices if c.data.startswith("p:")]
        first = self.catalogue.get(offered[0]) if offered else None
        anchor = current or first
        bare = [] if aspects else self._lexicon.bare_aspects_of(tokens)
        if bare:  # "phí?", "có bị phạt không": a follow-up naming nothing else
            aspects, followup = bare, True
            if anchor is not None:
                return self._answer(anchor, aspects, session, matches, question=text)
        if self._lexicon.resumes(tokens):
            resumed = self._topics.resumed(current, text, matches, decision, list(session.questions))
            if resumed is not None:
                return self._answer(resumed, aspects or carried, session, matches, question=text)
        if (
            anchor is not None
            and (aspects or followup or overview)
            and self._lexicon.only_generic(tokens)
            and all(self._lexicon.only_generic([w]) for w in self._matcher.unknown_words(text))
        ):  # "nộp hồ sơ ở đâu vậy", "thủ tục thế nào", "làm trên VNeID được không": the desk's words
            return self._answer(anchor, aspects or carried, session, matches, question=text)
        if current is not None and self._lexicon.asks_together(tokens):
            combined = self._topics.combined(current, matches)
            if combined is not None:  # "làm luôn thẻ BHYT cho cháu": the liên thông entry
                return self._answer(combined, aspects or carried, session, matches, question=text)
        if anchor is not None and self._lexicon.lacks_paper(tokens) and not self._matcher.unknown_words(text):
            # "em không có sổ hộ khẩu thì sao": a paper missing for the topic, not the paper's own entry.
            return self._answer(anchor, aspects or [Aspect.CONDITIONS], session, matches, question=text)
        if current is None and (aspects or followup):
            # "cần giấy tờ gì" after the bot offered procedures: about the first offered.
            if first is not None and self._topics.continues(first, text, matches, decision):
                return self._answer(first, aspects or carried, session, matches, question=text)
        if current is None and unplaced and decision is Decision.NONE:
            recovered = self._with_unplaced(unplaced, text, aspects, followup, session)
            if recovered is not None:
                return recovered

        if current is not None and (aspects or followup) and self._topics.continues(current, text, matches, decision):
            variant = matches[0].procedure if decision is not Decision.NONE else None
            if variant is not None and variant.id != current.id and self._topics.is_variant(variant, current, text):
                # "con sinh ra ở nước ngoài thì sao" after khai sinh: its foreign variant.
                return self._answer(variant, aspects or carried, session, matches, question=text)
            if decision is Decision.NONE:
                # "thế chữ ký thì sao" after chứng thực bản sao: a close entry of the field.
                other = self._topics.recover(current, text, matches)
                if other is not None and other.id != current.id:
                    return self._answer(other, aspects or carried, session, matches, question=text)
            return self._answer(current, aspects or carried, session, matches, question=text)
        if current is not None and Aspect.DOCUMENTS in aspects and _YES_NO.search(text):
            # "cần mang cccd không?": a paper to bring for the current topic, not a new one.
            return self._answer(current, aspects, session, matches, question=text)

        said = self._families.said_variant(text, tokens)
        if said is not None:  # the question already answers a family's question
            return self._answer(said, aspects, session, matches, question=text)

        if decision is Decision.NONE:
            family = self._families.situation(text, matches)
            if family is not None and (default := self.catalogue.get(family.default)) is not None:
                return self._answer(default, aspects, session, matches, family, question=text)
            if current is not None:
                recovered = self._topics.recover(current, text, matches)
                if recovered is not None:
                    return self._answer(recovered, aspects or carried, session, matches, question=text)
            options = self._matcher.tentative(text, matches)
            if options:  # a long description both scorers place: confirm, don't refuse
                session.procedure_id, session.aspects = None, aspects
                reply = self._writer.confirm([m.procedure for m in options])
                return Response(Intent.PROCEDURE, [reply], _infos(matches), aspects[0] if aspects else None)
            # The topic is kept: a follow-up after this refusal can still be about it, and
            # the next message may be read together with this one.
            session.unplaced = text[:TURN_CHARS]
            return Response(Intent.UNKNOWN, [self._writer.unknown()], _infos(matches), aspects[0] if aspects else None)

        several = self._several(tokens, matches)
        if len(several) == 1:  # one procedure covers every part ("liên thông")
            aspects = aspects or (carried if followup else [])
            return self._answer(several[0], aspects, session, matches, question=text)
        if len(several) > 1:
            session.procedure_id, session.aspects = several[0].id, aspects
            reply = self._writer.several(several, aspects)
            scores = {m.procedure.id: m.score for m in matches}
            named = {p.id for p in several}
            infos = [MatchInfo(p.id, p.name, scores.get(p.id, 100.0)) for p in several]
            infos += [i for i in _infos(matches) if i.id not in named]
            return Response(Intent.PROCEDURE, [reply], infos, aspects[0] if aspects else None)

        if not aspects and followup and carried:
            aspects = carried  # "à không, ý tôi là chứng thực bản sao": same question
        # A situation a family describes ("mất giấy khai sinh"): its common case, unless
        # the question clearly names one procedure (a variant, or something else).
        family = self._families.situation(text, matches)
        if family is not None and (default := self.catalogue.get(family.default)) is not None:
            return self._answer(default, aspects, session, matches, family, question=text)
        if decision is Decision.ANSWER:
            return self._answer(matches[0].procedure, aspects, session, matches, question=text)

        options = self._matcher.candidates(matches)
        stated = self._families.stated_choice([m.procedure for m in options], text, self._clock().year)
        if stated is not None:  # "đăng ký lại khai tử cho người nước ngoài": the facts tell
            return self._answer(stated, aspects, session, matches, question=text)
        near = self._topics.near_topic(current, matches) if current is not None and (aspects or followup) else None
        if near is not None:  # "còn nếu người nhận nuôi là Việt kiều" after nuôi con nuôi
            return self._answer(near, aspects or carried, session, matches, question=text)
        family = self._families.family_of([m.procedure.id for m in options])
        if family is not None:  # close variants of one thing: answer the common case
            default = self.catalogue.get(family.default)
            if default is not None:
                return self._answer(default, aspects, session, matches, family, question=text)
        session.procedure_id, session.aspects = None, aspects
        procs = [m.procedure for m in options]
        return Response(
            Intent.PROCEDURE,
            [self._writer.choose(procs) if len(procs) > 1 else self._writer.confirm(procs)],
            _infos(matches),
            aspects[0] if aspects else None,
            unsure=True,
        )

    def _with_unplaced(
        self, unplaced: str, text: str, aspects: list[Aspect], followup: bool, session: Session
    ) -> Response | None:
        """A message read together with the question refused just before it: both sets of
        words name a procedure ("có được hỗ trợ không" after "nhà tôi bị bão làm sập"), or
        this one only asks an aspect and the earlier one had a fair best guess, which is
        offered to confirm ("cần những gì" after a long description of a case)."""
        joined = self._matcher.rank(f"{unplaced} {text}")
        if self._matcher.decide(joined) is Decision.ANSWER:
            return self._answer(joined[0].procedure, aspects, session, joined, question=f"{unplaced} {text}")
        if not (aspects or followup) or self._matcher.query_tokens(text) and not self._topics.names_nothing(text, []):
            return None
        earlier = self._matcher.rank(unplaced)
        if not earlier or earlier[0].score < RECOVER_FLOOR or self._matcher.unknown_words(unplaced):
            return None
        session.procedure_id, session.aspects = None, aspects
        reply = self._writer.confirm([earlier[0].procedure])
        return Response(Intent.PROCEDURE, [reply], _infos(earlier), aspects[0] if aspects else None, unsure=True)

    def _answer(
        self,
        proc: Procedure,
        aspects: list[Aspect],
        session: Session,
        matches: list[Match],
        family: Family | None = None,
        *,
        question: str = "",
    ) -> Response:
        """The answer about ``proc`` (``question``: the message, when it asked in words)."""
        if question and (stated := self._families.stated_variant(proc, question, self._clock().year)) is not proc:
            proc, family = stated, None  # "con 8 tháng rồi": the question answers the family's question
        session.procedure_id, session.aspects = proc.id, list(aspects)
        infos = _infos(matches) if matches and matches[0].procedure.id == proc.id else [
            MatchInfo(proc.id, proc.name, 100.0),
            *(i for i in _infos(matches) if i.id != proc.id),
        ][:3]
        aspect = aspects[0] if aspects else None
        if proc.is_referral:
            return Response(Intent.REFERRAL, [self._writer.referral(proc)], infos, aspect)
        reply = self._writer.procedure(proc, list(aspects), yes_no=bool(_YES_NO.search(question)))
        family = family or self._families.variants_asked(proc, matches)
        if family is not None and question and self._families.names_variant(question, proc.id, family, common=False):
            family = None  # the question names the common case itself ("chứng thực bản sao")
        if family is not None:
            reply = self._writer.with_variants(reply, family, self.catalogue)
        if question:
            session.questions.pop(proc.id, None)
            session.questions[proc.id] = question
            while len(session.questions) > RATED_QUESTIONS:
                session.questions.pop(next(iter(session.questions)))
        reply = dataclasses.replace(reply, rate=proc.id)
        return Response(Intent.PROCEDURE, [reply], infos, aspect)

    def _rate(self, proc_id: str, up: bool, session: Session) -> Response:
        """Thanks for a rating of the answer about ``proc_id``; after a 👎, a person of the
        desk is offered. A procedure is rated once per conversation."""
        proc = self.catalogue.get(proc_id)
        if proc is None:
            return Response(Intent.UNKNOWN, [self._writer.stale()])
        feedback = None
        if proc_id not in session.rated_ids:
            session.rated_ids.add(proc_id)
            feedback = Feedback(proc_id, up, session.questions.get(proc_id, ""))
        reply = self._writer.rated_up() if up else self._writer.rated_down()
        return Response(Intent.HELP, [reply], [MatchInfo(proc.id, proc.name, 100.0)], feedback=feedback)

    async def _record(self, msg: Incoming, response: Response) -> None:
        """Tell the recorder about this message; its failures never reach the user."""
        if self._recorder is None:
            return
        try:
            await self._recorder.record(msg, response)
        except Exception as exc:  # noqa: BLE001 - counting must never cost an answer
            log.warning("recording a message from channel %s failed: %s", msg.channel, type(exc).__name__)

    def _several(self, tokens: list[str], matches: list[Match]) -> list[Procedure]:
        """The distinct procedures a message names in separate parts ("A với B"). When
        one entry covers all those parts (a combined "liên thông" procedure), just that
        one; empty when the message names one procedure."""
        parts: list[list[str]] = [[]]
        for tok in tokens:
            if tok in self._lexicon.conjunctions:
                parts.append([])
            else:
                parts[-1].append(tok)
        if len(parts) < 2:
            return []
        found: list[Procedure] = []
        named: list[str] = []
        best_part = 0.0
        # Whether every part also fits the whole message's best entry, and it is the best
        # of at least one part: then the parts only add detail to one procedure ("giấy kết
        # hôn mất, sổ không còn, đăng ký lại kết hôn").
        fits_top, leads_part = True, False
        for part in parts:
            if not self._matcher.query_tokens(" ".join(part)):
                continue
            ranked = self._matcher.rank(" ".join(part))
            if self._matcher.decide(ranked) in (Decision.ANSWER, Decision.CHOOSE):
                best_part = max(best_part, ranked[0].score)
                named.append(" ".join(part))
                if ranked[0].procedure not in found:
                    found.append(ranked[0].procedure)
                fits_top &= bool(matches) and any(
                    m.procedure.id == matches[0].procedure.id and m.score >= ranked[0].score - PART_FITS
                    for m in ranked
                )
                leads_part |= bool(matches) and ranked[0].procedure.id == matches[0].procedure.id
        # The whole message's best entry stands when it also leads one of the parts; one
        # that leads none only collects words from separate parts ("khai sinh ... bản sao").
        if len(found) < 2 or (
            leads_part and (fits_top or matches[0].score >= max(best_part, STRONG_MATCH))
        ):
            return []
        # A combined procedure that does the named ones in one application ("khai sinh,
        # thường trú và thẻ BHYT" -> liên thông) answers them all.
        found_ids = {p.id for p in found}
        for m in matches[:5]:
            covers = {m.procedure.id, *m.procedure.combines}
            if len(found_ids & covers) >= 2 and found_ids <= covers | {m.procedure.id}:
                return [m.procedure]
        for m in matches[:5]:
            if all(self._matcher.explains(m.procedure.id, part) >= COVERS_PART for part in named):
                return [m.procedure]
        return found[:3]

    async def _bundle(
        self, msg: Incoming, parts: list[str], quote: bool = True, status_first: bool = False
    ) -> Response:
        """Each question of a bundle answered briefly, in one reply that quotes each
        (``quote=False``: parts of one sentence, numbered but not quoted;
        ``status_first``: the first part asks about dossiers, the others about procedures)."""
        sections: list[str] = []
        choices: list[Choice] = []
        infos: list[MatchInfo] = []
        intents: list[Intent] = []
        for number, part in enumerate(parts[:MAX_PARTS], 1):
            excerpt = part if len(part) <= QUOTE_CHARS else part[: QUOTE_CHARS - 1] + "…"
            as_status = number == 1 if status_first else None
            line, procs, response = await self._part(msg, part, as_status)
            sections.append(f"{number}) «{excerpt}»\n{line}" if quote else f"{number}) {line}")
            intents.append(response.intent)
            infos += [i for i in response.matches[:1] if i.id not in {x.id for x in infos}]
            for proc in procs:
                choice = Choice(f"Chi tiết: {proc.title}"[:60], choice_procedure(proc.id))
                if choice not in choices:
                    choices.append(choice)
        reply = self._writer.bundle(sections, choices[:8], max(0, len(parts) - MAX_PARTS))
        intent = next((i for i in intents if i in (Intent.PROCEDURE, Intent.REFERRAL, Intent.STATUS)), intents[0])
        return Response(intent, [reply], infos[:3], None, quotes_question=quote)

    async def _part(
        self, msg: Incoming, part: str, as_status: bool | None = None
    ) -> tuple[str, list[Procedure], Response]:
        """One bundle question: its answer line, the procedures it names, and the response.
        ``as_status`` says whether it asks about dossiers (None: tell from its words)."""
        tokens = self._normalizer.tokens(part)
        if as_status is None:
            as_status = bool(self._find_codes(part)) or self._lexicon.asks_status(tokens)
        if as_status:
            response = await self._status(msg, part)
            return "\n".join(r.text for r in response.replies), [], response
        response = self._procedure_question(part, tokens, Session())
        ids = [i.id for i in response.matches]
        if response.intent is Intent.UNKNOWN or not ids:
            return self._writer.part_not_understood(), [], response
        aspects = [response.aspect] if response.aspect else []
        first = self.catalogue.get(ids[0])
        offered = response.replies[0].choices
        picks = [c for c in offered if c.data.startswith("p:")]
        if picks and all(c in picks or c.data == CHOICE_MENU for c in offered):  # "which one?"
            options = [p for p in (self.catalogue.get(c.data[2:]) for c in picks) if p]
            return self._writer.part_choose(options), options, response
        if first is None:
            return self._writer.part_not_understood(), [], response
        if first.is_referral:
            return self._writer.part_referral(first), [], response
        return self._writer.brief(first, aspects), [first], response

    # -- choices and commands -------------------------------------------------------

    async def _on_choice(self, msg: Incoming, data: str, session: Session) -> Response:
        kind, _, rest = data.partition(":")
        if data == CHOICE_MENU:
            return Response(Intent.HELP, [self._writer.fields_menu(self._groups)])
        if data == CHOICE_STATUS_HELP:
            return await self._status(msg, "")
        if data == CHOICE_HANDOVER:  # pressed, or typed as its number: no words of a question
            return await self._handover(dataclasses.replace(msg, choice=data), session)
        if kind == "p" and (proc := self.catalogue.get(rest)):
            return self._answer(proc, session.aspects, session, [])
        if kind == "a":
            proc_id, _, aspect = rest.partition(":")
            proc = self.catalogue.get(proc_id)
            if proc is not None and aspect in Aspect._value2member_map_:
                return self._answer(proc, [Aspect(aspect)], session, [])
        if kind == "x":
            proc_id, _, part = rest.partition(":")
            proc = self.catalogue.get(proc_id)
            reply = self._writer.extra(proc, part) if proc is not None else None
            if reply is not None:
                session.procedure_id = proc_id
                return Response(Intent.PROCEDURE, [reply], [MatchInfo(proc_id, proc.name, 100.0)])
        if kind == "f":
            index, _, page = rest.partition(":")
            if index.isdigit() and (page.isdigit() or not page) and int(index) < len(self._groups):
                group = self._groups[int(index)]
                return Response(Intent.HELP, [self._writer.field_list(int(index), group, int(page or 0))])
        if kind == CHOICE_RATE:
            verdict, _, proc_id = rest.partition(":")
            if verdict in ("up", "down") and proc_id:
                return self._rate(proc_id, verdict == "up", session)
        if kind == "dossier" and rest:
            return await self._status(msg, rest)
        if kind in ("follow", "unfollow") and rest:
            return await self._on_command(msg, "theodoi" if kind == "follow" else "huytheodoi", rest, session)
        return Response(Intent.UNKNOWN, [self._writer.stale()])

    async def _on_command(self, msg: Incoming, name: str, arg: str, session: Session) -> Response:
        if name == "start" and arg and self._find_codes(arg):
            # A receipt's QR code can open the bot with the dossier code: t.me/<bot>?start=<code>
            return await self._status(msg, arg)
        if name in ("start", "help", "trogiup", "huongdan"):
            return Response(Intent.HELP, [self._writer.help()])
        if name in ("thutuc", "menu"):
            return Response(Intent.HELP, [self._writer.fields_menu(self._groups)])
        if name == "tracuu":
            return await self._status(msg, arg)
        if name in ("canbo", "gapcanbo"):
            return await self._handover(msg, session)
        if self.status is None:
            return Response(Intent.STATUS, [self._writer.status_unavailable()])
        if name == "theodoi":
            return await self.status.follow(msg, arg)
        if name == "huytheodoi":
            return await self.status.unfollow(msg, arg)
        if name == "thon":
            return await self.status.digest(msg)
        return Response(Intent.HELP, [self._writer.help()])

    # -- dossier status -----------------------------------------------------------------

    def _find_codes(self, text: str) -> list[str]:
        return self.status.find_codes(text) if self.status is not None else self._codes.find(text)

    async def _status(self, msg: Incoming, text: str) -> Response:
        if self.status is None:
            return Response(Intent.STATUS, [self._writer.status_unavailable()])
        response = await self.status.answer(msg, text)
        self._follow_up_on(msg, response)
        return response

    def _topic_from_status(self, text: str, session: Session) -> None:
        """The procedure a status question names in words (no dossier told it) becomes the
        topic, so that "thế còn lệ phí?" after it is about that procedure."""
        rest = " ".join(self._lexicon.without_status(self._normalizer.tokens(_ANY_DIGITS.sub(" ", text))))
        ranked = self._matcher.rank(rest) if self._matcher.query_tokens(rest) else []
        decision = self._matcher.decide(ranked)
        named = ranked[0].procedure if decision is Decision.ANSWER else None
        if decision is Decision.CHOOSE:
            family = self._families.family_of([m.procedure.id for m in self._matcher.candidates(ranked)])
            named = self.catalogue.get(family.default) if family is not None else None
        if named is not None:
            session.procedure_id, session.aspects = named.id, []

    def _follow_up_on(self, msg: Incoming, response: Response) -> None:
        """After a status answer about one procedure, follow-ups are about that procedure."""
        session = _LIVE.get(None)
        if session is not None and response.matches and self.catalogue.get(response.matches[0].id) is not None:
            session.procedure_id, session.aspects = response.matches[0].id, []
