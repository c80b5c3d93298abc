"""Reading a question against the catalogue's families of procedures.

A family (see ``procedures/README.md``) names procedures that people ask for with the
same words, the common case among them, and the question that tells them apart. The
:class:`FamilyReader` says which family a question describes, whether the question
already names one variant or answers the family's question, and which family a set of
close candidates forms; the dialogue engine then answers the common case with the
deciding question, or the variant.
"""

from __future__ import annotations

from bot.config import MatchingConfig
from bot.procedures.catalogue import ANSWERS, Catalogue, Family, Procedure, situations
from bot.procedures.facts import ABROAD, BORDER, FOREIGN, FactReader, Facts, clause_tokens
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Match, Matcher
from bot.procedures.normalize import Normalizer

#: Distinct words of a question a family's situation must use for the question to describe it.
SITUATION_WORDS = 2
#: Other words allowed between the words of a family member's ``said`` phrase.
SAID_SLACK = 4
#: A family's situation must fit a question this well (0-100) for its members' ``said``
#: phrases to pick one: less than an answer needs, as the phrase itself is evidence.
SAID_FIT = 50.0
#: Families' situations this close both fit a question.
FAMILY_TIE = 5.0
#: A family's variant that leads its common case by this much (and is confident) stands.
VARIANT_LEAD = 20.0
#: ...and one this strong stands when the common case is not ranked at all ("đk lại kết
#: hôn": the re-registration, not the copy of the record).
STRONG_VARIANT = 80.0
#: Longest typed description read against the members' situations ("ở trong nước").
DESCRIPTION_WORDS = 8
#: Words of a description that a member's situation must use.
DESCRIPTION_FIT = 2
#: Stated facts are applied in this order, the most specific first ("đã đăng ký bên
#: Hàn rồi": registered abroad, before merely foreign).
FACT_ORDER = (ABROAD, BORDER, FOREIGN)
#: Steps of replacing a procedure by the variant a stated fact picks (age, then facts).
STATED_STEPS = 4


def _in_order(words: list[str], tokens: list[str], slack: int) -> bool:
    """Whether ``words`` occur in ``tokens`` in order, with at most ``slack`` other tokens
    between the first and the last."""
    for start, tok in enumerate(tokens):
        if tok != words[0]:
            continue
        i, pos = 1, start + 1
        while i < len(words) and pos < len(tokens) and pos - start < len(words) + slack:
            if tokens[pos] == words[i]:
                i += 1
            pos += 1
        if i == len(words):
            return True
    return False


class FamilyReader:
    """Reads questions against one catalogue's families."""

    def __init__(
        self,
        catalogue: Catalogue,
        normalizer: Normalizer,
        lexicon: Lexicon,
        matcher: Matcher,
        config: MatchingConfig,
        facts: FactReader | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._normalizer = normalizer
        self._lexicon = lexicon
        self._matcher = matcher
        self._config = config
        # The situations families describe ("mất giấy khai sinh"), matched like procedures.
        # (Words alone: a situation is a few short phrases, where n-grams add little.)
        self._situations = Matcher(
            situations(catalogue),
            normalizer,
            lexicon,
            config,
            character_ngrams=False,
            known_words=frozenset(matcher.index.vocab),
        )
        # The last text ranked: one message asks about it more than once.
        self._last: tuple[str, list[Match]] = ("", [])
        # Each family's word pairs, as its name and aliases write them (fillers included).
        self._pairs: dict[str, set[tuple[str, str]]] = {
            family.id: {pair for t in map(normalizer.tokens, (family.name, *family.aliases)) for pair in zip(t, t[1:])}
            for family in catalogue.families.values()
        }
        self._facts = facts or FactReader.load()
        # fact -> procedure id -> the member standing for it when a question states the fact.
        self._replaced: dict[str, dict[str, str]] = {fact: {} for fact in FACT_ORDER}
        for family in catalogue.families.values():
            for m in family.members:
                for fact in FACT_ORDER:
                    for other in m.replaces(fact):
                        self._replaced[fact].setdefault(other, m.id)
        # Families with members by age (``age_over``): (family, [(days, member id)]),
        # the common case first at 0 days.
        self._ladders: list[tuple[Family, list[tuple[float, str]]]] = []
        for family in catalogue.families.values():
            rungs = sorted((m.age_days, m.id) for m in family.members if m.age_days is not None and m.id != family.default)
            if rungs:
                self._ladders.append((family, [(0.0, family.default), *rungs]))
        # Combined procedures, and the smaller combinations of their parts: (smaller, the
        # parts it leaves out), the largest first.
        self._smaller: dict[str, list[tuple[Procedure, frozenset[str]]]] = {}
        combined = [p for p in catalogue if len(p.combines) >= 2]
        for big in combined:
            parts = set(big.combines)
            smaller = [(p, frozenset(parts - set(p.combines))) for p in combined if set(p.combines) < parts]
            if smaller:
                self._smaller[big.id] = sorted(smaller, key=lambda s: len(s[1]))
        # The procedures stated facts can change at all (most cannot: no need to read facts).
        self._changeable = frozenset(
            {pid for replaced in self._replaced.values() for pid in replaced}
            | {pid for _, rungs in self._ladders for _, pid in rungs}
            | set(self._smaller)
        )
        # Each family's members' ``said`` phrases, as words, in the members' order.
        self._said: dict[str, list[tuple[str, list[str]]]] = {
            family.id: [(m.id, words) for m in family.members for p in m.said if (words := normalizer.tokens(p))]
            for family in catalogue.families.values()
        }

    def _rank(self, text: str) -> list[Match]:
        """The families' situations ranked for ``text`` (once per message)."""
        if self._last[0] != text:
            self._last = (text, self._situations.rank(text))
        return self._last[1]

    def situation(self, text: str, matches: list[Match]) -> Family | None:
        """The family whose situation ``text`` describes better than any one procedure
        does. A family's own variant stands when the question uses words that only the
        variant's names use ("đã có căn cước", "người Campuchia", "sổ cũng không còn"),
        not the family's or its common case's ("gks bị mất làm lại")."""
        ranked = self._rank(text)
        # Two families may both fit ("mất giấy chứng tử": lost papers, and a death); the
        # best one is taken when it fits well, however close the other.
        if not ranked or ranked[0].score < self._config.candidate:
            return None
        family = self._catalogue.families.get(ranked[0].procedure.id)
        if ranked[0].score < self._config.confident and not (
            family is not None
            and matches
            and any(m.id == matches[0].procedure.id for m in family.members)
            and any(m.procedure.id == family.default for m in matches)
        ):
            # A fair fit is the family only when its best entry is a member and its
            # common case is ranked too ("hộ kinh doanh": every member's name says it).
            return None
        if family is not None and not self._describes(text, family):
            return None  # one shared word is no situation ("vé số": not "mất sổ")
        if family is None or not matches:
            return family
        top, situation = matches[0], ranked[0].score
        # Another family that fits nearly as well and has the best entry as a member is
        # the one meant ("hưởng trợ cấp người cao tuổi, có được hỗ trợ mai táng không":
        # the funeral grant, not old-age support).
        for other in ranked[1:]:
            if other.score < max(self._config.confident, situation - FAMILY_TIE):
                break
            close = self._catalogue.families.get(other.procedure.id)
            if close is not None and any(m.id == top.procedure.id for m in close.members):
                family, situation = close, other.score
                break
        if top.procedure.id == family.default:
            return family
        if any(m.id == top.procedure.id for m in family.members):
            if self.names_variant(text, top.procedure.id, family) or self._leads_default(top, family, matches):
                return None
            return family
        return family if situation >= top.score else None

    def _describes(self, text: str, family: Family) -> bool:
        """Whether ``text`` shares with the family's situation SITUATION_WORDS naming words,
        or two words in a row of one of its phrases ("làm sổ đỏ": "đỏ" folds to a filler)."""
        words = self._situations.catalogue_words(text) & self._situations.alias_words(family.id)
        if len(words) >= SITUATION_WORDS:
            return True
        tokens = self._normalizer.tokens(text)
        return not self._pairs[family.id].isdisjoint(zip(tokens, tokens[1:]))

    def _leads_default(self, top: Match, family: Family, matches: list[Match]) -> bool:
        """Whether the ranking puts the variant ``top`` confidently and far ahead of the
        family's common case, which it also ranks ("cấp lại giấy phép xây dựng": the
        re-issue, not the first permit)."""
        default = next((m.score for m in matches if m.procedure.id == family.default), None)
        if default is None:  # the common case is ranked nowhere: a strong variant stands
            return top.score >= STRONG_VARIANT
        return top.score >= self._config.confident and top.score - default >= VARIANT_LEAD

    def stated_variant(self, proc: Procedure, text: str, year: int) -> Procedure:
        """The variant of ``proc`` that facts stated in ``text`` pick ("con 8 tháng rồi":
        the late birth registration; "chồng Hàn": the foreign marriage; "bên đó cấp rồi":
        recording a registration made abroad), from the family files' ``age_over`` and
        ``<fact>_of`` keys; ``proc`` itself when the question states none. ``year``: this
        year, for a year of birth."""
        if proc.id not in self._changeable:
            return proc
        tokens = clause_tokens(text, self._normalizer)
        facts = self._facts.read(tokens, year)
        current = self._without_declined(proc, tokens) or proc
        if not facts.stated and not facts.ages:
            return current
        for _ in range(STATED_STEPS):
            step = self._by_age(current, facts, text) or self._by_fact(current, facts)
            if step is None or step.id == current.id:
                break
            current = step
        return current

    def stated_choice(self, procs: list[Procedure], text: str, year: int) -> Procedure | None:
        """The one procedure the stated facts of ``text`` lead every changed option of a
        "which one?" to ("đăng ký lại khai tử cho người nước ngoài": of *khai tử nước
        ngoài*, *đăng ký lại khai tử* and its foreign variant, the foreign variant), when
        at least one option changes and all that change agree; otherwise None."""
        whole = self._names_every_part(procs, text)
        if whole is not None:
            return whole
        changed = {v.id: v for p in procs if (v := self.stated_variant(p, text, year)).id != p.id}
        return next(iter(changed.values())) if len(changed) == 1 else None

    def _names_every_part(self, procs: list[Procedure], text: str) -> Procedure | None:
        """Of combined procedures offered together, the largest whose extra parts the
        question names ("liên thông khai sinh, thường trú, BHYT": the three-part one, not
        the two-part one it also ranks); None when it names none of them."""
        offered = {p.id for p in procs}
        words = self._matcher.catalogue_words(text) - self._facts.declined_words(clause_tokens(text, self._normalizer))
        for big in procs:
            smaller = [(small, left_out) for small, left_out in self._smaller.get(big.id, ()) if small.id in offered]
            for small, left_out in smaller:
                kept = set().union(*(self._matcher.alias_words(p) for p in small.combines))
                if all(words & (self._matcher.alias_words(p) - kept - self._lexicon.light_words) for p in left_out):
                    return big
        return None

    def _without_declined(self, proc: Procedure, tokens: list[str]) -> Procedure | None:
        """The smaller combined procedure, when the question declines the parts of
        ``proc`` it leaves out ("không cần nhập khẩu"); None otherwise."""
        smaller = self._smaller.get(proc.id)
        if not smaller:
            return None
        declined = self._facts.declined_words(tokens)
        if not declined:
            return None
        for small, left_out in smaller:
            kept = set().union(*(self._matcher.alias_words(p) for p in small.combines))
            if all(declined & (self._matcher.alias_words(p) - kept - self._lexicon.light_words) for p in left_out):
                return small
        return None

    def _by_fact(self, proc: Procedure, facts: Facts) -> Procedure | None:
        """The member standing for ``proc`` under the most specific fact stated."""
        for fact in FACT_ORDER:
            if fact not in facts.stated or (fact == BORDER and not facts.neighbour):
                continue
            member = self._replaced[fact].get(proc.id)
            if member is not None:
                return self._catalogue.get(member)
        return None

    def _by_age(self, proc: Procedure, facts: Facts, text: str) -> Procedure | None:
        """The member of an age ladder that ``proc`` is on that the stated ages agree on;
        an older member than ``proc``, or a younger one when the question does not name
        ``proc`` ("khai sinh quá hạn" stays, whatever the number)."""
        if not facts.ages:
            return None
        for family, rungs in self._ladders:
            ids = [m for _, m in rungs]
            if proc.id not in ids:
                continue
            picks: set[str] = set()
            for age in facts.ages:
                pick: str | None = rungs[0][1]
                for days, member in rungs[1:]:
                    over = age.over(days)
                    if over is None:  # "quá 2 tháng" tells 60 days, not 18 years
                        pick = None if member == rungs[1][1] else pick
                        break
                    if not over:
                        break
                    pick = member
                if pick is not None:
                    picks.add(pick)
            if len(picks) != 1:
                return None  # no age that tells, or two that disagree
            (pick,) = picks
            if pick == proc.id:
                return None
            if ids.index(pick) < ids.index(proc.id) and self.names_variant(text, proc.id, family):
                return None
            return self._catalogue.get(pick)
        return None

    def said_variant(self, text: str, tokens: list[str]) -> Procedure | None:
        """The family member whose ``said`` phrase the question uses (its words in order,
        a few others between them allowed), in a family whose situation the question fits;
        or None."""
        for situation in self._rank(text):
            phrases = self._said.get(situation.procedure.id)
            if not phrases or situation.score < SAID_FIT:
                continue
            for member, words in phrases:
                if _in_order(words, tokens, slack=SAID_SLACK):
                    return self._catalogue.get(member)
        return None

    def names_variant(self, text: str, variant: str, family: Family, *, common: bool = True) -> bool:
        """Whether ``text`` uses a word that names ``variant`` but not the family's
        situation (nor, with ``common``, its common case)."""
        shared = self._situations.alias_words(family.id)
        if common:
            shared = shared | self._matcher.alias_words(family.default)
        only_variant = self._matcher.alias_words(variant) - shared - self._lexicon.light_words
        return bool(self._matcher.catalogue_words(text) & only_variant)

    def family_of(self, proc_ids: list[str]) -> Family | None:
        """The family that has all of ``proc_ids`` (two or more) as members, if any."""
        if len(proc_ids) < 2:
            return None
        for family in self._catalogue.families_of(proc_ids[0]):
            members = {m.id for m in family.members}
            if all(pid in members for pid in proc_ids):
                return family
        return None

    def variants_asked(self, proc: Procedure, matches: list[Match]) -> Family | None:
        """The family whose common case ``proc`` is, when the question could also mean one
        of its other variants (one of them ranks among the candidates)."""
        if not matches:
            return None  # reached by a choice: the person already chose the variant
        floor = self._config.candidate
        ranked = {m.procedure.id for m in matches[1:] if m.score >= floor}
        for family in self._catalogue.families.values():
            if family.default == proc.id and any(m.id in ranked for m in family.others):
                return family
        return None

    def asked(self, procedure_id: str | None, offered: list[str]) -> Family | None:
        """The family whose question the last reply asked: it answered the family's
        common case ``procedure_id`` and offered (some of) its other members."""
        if procedure_id is None or not offered:
            return None
        for family in self._catalogue.families_of(procedure_id):
            others = {m.id for m in family.others}
            if family.default == procedure_id and set(offered) <= others:
                return family
        return None

    def answered(self, family: Family, yes: bool) -> list[Procedure]:
        """The members a yes (or no) to the family's question means (``answers:``)."""
        want = ANSWERS[0] if yes else ANSWERS[1]
        found = (self._catalogue.get(m.id) for m in family.members if m.answers == want)
        return [p for p in found if p is not None]

    def described(self, family: Family, tokens: list[str]) -> Procedure | None:
        """The member whose situation (``when``) a short typed description fits best and
        alone, with at least DESCRIPTION_FIT and half of its words ("ở trong nước": the
        common case of marriage); None when it fits none, or two members as well, or
        the message asks about an aspect or uses words the catalogue does not know."""
        text = " ".join(tokens)
        if len(tokens) > DESCRIPTION_WORDS or self._lexicon.detect_aspects(tokens) or self._matcher.unknown_words(text):
            return None  # a question about an aspect, or about something else
        stop = self._lexicon.stopwords | self._lexicon.choice_frame
        words = [t for t in self._matcher.query_tokens(text) if t not in stop]
        fits = [(sum(w in set(self._normalizer.tokens(m.when)) for w in words), m.id) for m in family.members]
        fits.sort(reverse=True)
        best, member = fits[0]
        if best < DESCRIPTION_FIT or 2 * best < len(words) or (len(fits) > 1 and fits[1][0] == best):
            return None
        return self._catalogue.get(member)
