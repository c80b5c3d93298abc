"""Telling the part of a message that asks from the parts that tell the story.

People describe their situation before they ask: "kết hôn lần 2 thì cần giấy tờ gì, tôi
ly hôn rồi", "chị Lan lấy chồng Đài Loan, về quê sinh con, giờ muốn làm giấy khai sinh
cho cháu thì làm ở đâu". Every clause names a procedure, but a person at the desk answers
the one asked about (marriage, the birth) and uses the rest to choose its variant (the
foreign-element birth registration). :func:`asked_part` finds the asking clauses;
:func:`refocus` lets them choose among the entries the whole message ranks well.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.procedures.catalogue import Catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Match, Matcher
from bot.procedures.normalize import Normalizer

#: Clause boundaries as typed (the folded words lose the punctuation).
_CLAUSE_END = re.compile(r"[,.;:!?\n…]+")
#: Longest message split into clauses (the start of a longer one is read as a whole).
MAX_CLAUSES = 8
#: Entries of the whole message's ranking the asking part may choose among.
CHOICES = 5
#: Share of the asking part's naming words the leader's names use for it to name the
#: leader too ("làm giấy khai sinh" names the foreign-element birth registration).
NAMES_LEADER = 0.4
#: The asking part's word score for the entry it chooses must be at least FOCUS_FLOOR and
#: lead the whole message's best entry (on the asking part) by FOCUS_LEAD.
FOCUS_FLOOR = 45.0
FOCUS_LEAD = 15.0


def asked_part(text: str, normalizer: Normalizer, lexicon: Lexicon) -> str | None:
    """The clauses of ``text`` that ask (a question word, an aspect, a wish), when other
    clauses only tell the situation; None when every clause asks, or none does."""
    clauses = [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]
    if len(clauses) < 2 or len(clauses) > MAX_CLAUSES:
        return None
    asks = [_asks(normalizer.tokens(c), lexicon) for c in clauses]
    if not any(asks):
        asks[-1] = True  # no question word: the request comes last ("..., giờ làm khai sinh cho con")
    if all(asks):
        return None
    # Clauses between two asking ones belong to the question ("muốn làm cả khai tử, xóa
    # thường trú và mai táng phí, nhờ anh hướng dẫn"): the story comes before or after.
    first = asks.index(True)
    last = len(asks) - 1 - asks[::-1].index(True)
    if first == 0 and last == len(clauses) - 1:
        return None
    return ", ".join(clauses[first : last + 1])


def _asks(tokens: list[str], lexicon: Lexicon) -> bool:
    return bool(lexicon.detect_aspects(tokens)) or lexicon.asks_question(tokens)


def refocus(catalogue: Catalogue, matcher: Matcher, matches: list[Match], asked: str | None) -> list[Match]:
    """``matches`` (the whole message's ranking) led by the entry the asking part ``asked``
    names best among the first CHOICES, when it does not name the leader and the two are
    not variants of one family (then the story chooses the variant); the two swap scores,
    so the decision stays calibrated on the whole message."""
    if asked is None or len(matches) < 2 or not matcher.query_tokens(asked):
        return matches
    leader = matches[0]
    if matcher.explains(leader.procedure.id, asked) >= NAMES_LEADER:
        return matches  # the asking part names the leader too: the story only refines it
    on_asked = {m.procedure.id: m.score for m in matcher.rank_words(asked, limit=CHOICES * 2)}
    best = max(matches[:CHOICES], key=lambda m: (on_asked.get(m.procedure.id, 0.0), m.score))
    lead = on_asked.get(best.procedure.id, 0.0) - on_asked.get(leader.procedure.id, 0.0)
    if best is leader or on_asked.get(best.procedure.id, 0.0) < FOCUS_FLOOR or lead < FOCUS_LEAD:
        return matches
    if any(m.id == best.procedure.id for f in catalogue.families_of(leader.procedure.id) for m in f.members):
        return matches
    swapped = [replace(best, score=leader.score), replace(leader, score=best.score)]
    rest = [m for m in matches if m is not best and m is not leader]
    return sorted([*swapped, *rest], key=lambda m: -m.score)
