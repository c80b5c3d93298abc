"""Reading a message against the conversation's current topic.

After an answer, people go on in few words: "thế còn lệ phí?", "chữ ký thôi", "làm luôn
thẻ BHYT", "quay lại vụ khai tử", "làm ở xã nhà trai hay nhà gái". :class:`TopicReader`
tells whether such a message asks more about the current procedure, names a close one
instead (a variant, an entry of the same field, the combined "liên thông" entry), returns
to an earlier topic, or is about something else altogether; the dialogue engine
(:mod:`bot.dialogue`) then answers accordingly.
"""

from __future__ import annotations

from bot.procedures.catalogue import Catalogue, Procedure
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Decision, Match, Matcher
from bot.procedures.normalize import Normalizer

#: A message that names a procedure this well wins even over a follow-up reading.
STRONG_MATCH = 90.0
#: A weak match (below the matcher's candidate score) of the current topic's field that
#: scores at least this much is read as a correction within the topic.
RECOVER_FLOOR = 40.0
#: Read in the topic's field, a close entry must score this much more than for the field's
#: name alone: the message's own words must point at it.
FIELD_ADDS = 15.0
#: A message of at most this many naming words, all known to the catalogue, that names
#: nothing clearly is read as more about the current topic.
RECOVER_WORDS = 6

#: Share of a message's naming words the current entry must use for a follow-up reading.
FOLLOWUP_RELATES = 0.5
#: A follow-up with an aspect cue whose few naming words (at most WEAK_WORDS distinct ones)
#: score below this for every entry names nothing: it asks about the current topic
#: ("làm ở xã nhà trai hay nhà gái", "làm đơn ở đâu").
WEAK_NAMING = 40.0
WEAK_WORDS = 3
#: A follow-up that could mean several entries means the one whose names use at least
#: this share of the current topic's name, this much more than any other's do.
NEAR_TOPIC = 0.5
NEAR_TOPIC_LEAD = 0.25
#: ... among the entries scoring within this much of the best.
NEAR_TOPIC_SPREAD = 25.0
#: "làm luôn X": an entry whose names use this share of both names does both.
COMBINES_BOTH = 0.9

#: A part of a message fits the whole message's best entry when that entry scores within
#: this much of the part's own best.
PART_FITS = 12.0


class TopicReader:
    """Reads follow-up messages against the current topic, for one catalogue."""

    def __init__(self, catalogue: Catalogue, normalizer: Normalizer, lexicon: Lexicon, matcher: Matcher) -> None:
        self._catalogue = catalogue
        self._normalizer = normalizer
        self._lexicon = lexicon
        self._matcher = matcher
        # Each field's name ranked alone (a few dozen fields: kept for the catalogue's life).
        self._fields: dict[str, dict[str, float]] = {}

    def _field_alone(self, field: str) -> dict[str, float]:
        """The scores of the entries a field's name alone ranks ("Chứng thực")."""
        if field not in self._fields:
            self._fields[field] = {m.procedure.id: m.score for m in self._matcher.rank_words(field, limit=20)}
        return self._fields[field]

    def recover(self, current: Procedure, text: str, matches: list[Match]) -> Procedure | None:
        """What a message the catalogue alone cannot place means in the current topic: a
        close procedure of the same field it names weakly ("chữ ký thôi" after chứng thực
        bản sao), or the current procedure itself when it only describes the case
        ("là con của em gái mình, ở trong nước"). None for another subject altogether."""
        # The message's own ranking first ("tạm nghỉ mấy tháng" after hộ kinh doanh), then read
        # in the topic's field ("chữ ký" after chứng thực: "chứng thực chữ ký").
        for in_field in (False, True):
            ranked = self._matcher.rank_words(f"{current.field} {text}") if in_field else matches
            top = ranked[0] if ranked else None
            if top is None or top.procedure.id == current.id or top.procedure.is_referral:
                continue
            if not self.names_instead(top.procedure, current, text):
                continue  # the field's name, or words the topic uses too ("gia" of hộ gia đình)
            if in_field and top.score - self._field_alone(current.field).get(top.procedure.id, 0.0) < FIELD_ADDS:
                continue  # the field's name scores it ("hoạt động"): the message adds little ("thôi tiết")
            if top.procedure.field == current.field and (
                top.score >= RECOVER_FLOOR or self._matcher.decide(ranked) is Decision.ANSWER
            ):
                return top.procedure
        words = self._matcher.query_tokens(text)
        if (
            1 < len(set(words)) <= RECOVER_WORDS  # one shared word is no description ("giá" of "gia đình")
            and not self._matcher.unknown_words(text)
            and not self._matcher.guessed_words(text)
            and self._matcher.relates(current.id, text) > FOLLOWUP_RELATES
        ):
            return current
        return None

    def continues(self, current: Procedure, text: str, matches: list[Match], decision: Decision) -> bool:
        """Whether a message with an aspect or follow-up cue asks more about ``current``
        ("thế còn lệ phí?", "mất bao lâu?") rather than about another procedure, or another
        topic altogether ("giá vàng bao nhiêu": words the catalogue, or ``current``, never uses)."""
        if self._matcher.unknown_words(text):
            return False
        if self._matcher.relates(current.id, text) <= FOLLOWUP_RELATES:
            return self.names_nothing(text, matches)
        if decision is Decision.NONE:
            return True
        return matches[0].score < STRONG_MATCH and not self.names_other(matches, current)

    def names_nothing(self, text: str, matches: list[Match]) -> bool:
        """Whether an aspect question's few naming words name no procedure at all, and it
        speaks of the case's people or places ("làm ở xã nhà trai hay nhà gái", "trên VNeID
        được không hay phải lên xã"): every entry scores low on its words, each a catalogue
        word typed as such. ("giá vàng bao nhiêu" names no one of a case: another subject.)"""
        if matches and matches[0].score >= WEAK_NAMING:
            return False
        tokens = self._normalizer.tokens(text)
        if not self._lexicon.detect_aspects(tokens) or self._lexicon.light_words.isdisjoint(tokens):
            return False
        words = set(self._matcher.query_tokens(text))
        return len(words) <= WEAK_WORDS and not self._matcher.guessed_words(text)

    def resumed(
        self, current: Procedure | None, text: str, matches: list[Match], decision: Decision, discussed: list[str]
    ) -> Procedure | None:
        """The earlier topic "quay lại vụ ..." returns to: among the entries its words fit,
        one already discussed in this conversation (``discussed``: ids, the latest last);
        with no naming words, the topic before the current one. None when it names
        something new (read as any question)."""
        earlier = [p for i in reversed(discussed) if (p := self._catalogue.get(i)) is not None]
        earlier = [p for p in earlier if current is None or p.id != current.id]
        if not earlier:
            return None
        if not self._matcher.query_tokens(" ".join(self._lexicon.without_resume(self._normalizer.tokens(text)))):
            return earlier[0]  # "quay lại cái lúc nãy"
        if decision is Decision.NONE and not matches:
            return None
        fitting = {m.procedure.id for m in matches if matches and m.score >= matches[0].score - PART_FITS}
        return next((p for p in earlier if p.id in fitting), None)

    def is_variant(self, other: Procedure, current: Procedure, text: str) -> bool:
        """Whether ``other`` is a variant of ``current`` that ``text`` names: its names use
        most of the current topic's name, and the message a word of them the topic's do not."""
        return self._matcher.explains(other.id, current.name) >= NEAR_TOPIC and self.names_instead(other, current, text)

    def near_topic(self, current: Procedure, options: list[Match]) -> Procedure | None:
        """Of the entries a follow-up could mean, the one that is a variant of the current
        topic: its names use most of the topic's name, clearly more than the others'."""
        if not options:
            return None
        close = [m for m in options if m.score >= options[0].score - NEAR_TOPIC_SPREAD]
        shares = [(self._matcher.explains(m.procedure.id, current.name), m.procedure) for m in close]
        shares = [(share, p) for share, p in shares if p.id != current.id]
        if not shares:
            return None
        shares.sort(key=lambda sp: -sp[0])
        best, proc = shares[0]
        runner = shares[1][0] if len(shares) > 1 else 0.0
        return proc if best >= NEAR_TOPIC and best - runner >= NEAR_TOPIC_LEAD else None

    def combined(self, current: Procedure, matches: list[Match]) -> Procedure | None:
        """The combined ("liên thông") entry doing ``current`` and the procedure a message
        names at the same time, the one combining the fewest; None when none does."""
        if not matches or self._matcher.decide(matches) is Decision.NONE:
            return None
        others = [m for m in matches if m.procedure.id != current.id]
        if not others:
            return None
        named = others[0].procedure.id
        if named in current.combines:
            return current  # already the combined one
        base = {current.id, *current.combines}
        fits = [p for p in self._catalogue if p.combines and named in p.combines and base & {*p.combines}]
        if fits:
            return min(fits, key=lambda p: (len(p.combines), p.id))
        # An entry whose names hold both ("khai sinh kết hợp nhận cha, mẹ, con"), ranked close.
        other = others[0]
        for m in others[1:]:
            if m.score < other.score - NEAR_TOPIC_SPREAD:
                break
            if min(self._matcher.explains(m.procedure.id, p.name) for p in (current, other.procedure)) >= COMBINES_BOTH:
                return m.procedure
        return None

    def names_instead(self, other: Procedure, current: Procedure, text: str) -> bool:
        """Whether ``text`` uses a word of ``other``'s names that ``current``'s names do not
        use ("chữ ký" names chứng thực chữ ký, not bản sao; "tiền" names both trợ cấp)."""
        said = self._matcher.catalogue_words(text)
        return bool(said & (self._matcher.alias_words(other.id) - self._matcher.alias_words(current.id)))

    @staticmethod
    def names_other(matches: list[Match], current: Procedure) -> bool:
        """Whether the ranking clearly points at a procedure other than ``current``."""
        return bool(matches) and matches[0].procedure.id != current.id and matches[0].score >= 75.0
