"""``motcua eval``: how well the bot understands labelled questions, against baselines.

An evaluation file is a YAML list. An item with ``q`` is a single question (a fresh
conversation); an item with ``turns`` is a conversation of several such questions in
order. Labels: ``expect`` is a catalogue id (or a list of acceptable ids), ``none``
(out of scope), ``status`` or ``help``; ``aspect`` is the part asked about or null.

Figures reported for the engine: top-1 accuracy on procedure and referral questions
(the best match is right and the bot did not refuse), top-3 accuracy (the right entry is
among the three best matches reported), the share answered directly and rightly, intent accuracy, out-of-scope
questions refused, aspect accuracy, multi-turn accuracy, and replies that state a fee
or a number of days not found in the procedure's file. Two baselines rank the same
catalogue in the same process: BM25 (rank-bm25) over diacritic-folded syllables of each
whole file, and rapidfuzz ``WRatio`` against the official names.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rank_bm25 import BM25Okapi
from rapidfuzz import fuzz, process

from bot.procedures.catalogue import Catalogue, Procedure, load_catalogue
from bot.config import Config
from bot.dialogue import Engine
from bot.errors import MotcuaError
from bot.messages import Incoming, Intent, Response
from bot.procedures.normalize import fold

SPECIAL_LABELS = {"none", "status", "help"}
#: WRatio below this is taken as "no match" by the name baseline.
WRATIO_REFUSE_BELOW = 60.0

_NUMBER_WITH_UNIT = re.compile(
    r"(\d[\d.,]*)\s*(?:đồng|đ\b|ngày|giờ|tháng|năm|%)", re.IGNORECASE
)


@dataclass(frozen=True)
class Question:
    """One labelled question."""

    text: str
    expect: tuple[str, ...]
    aspect: str | None
    where: str

    @property
    def kind(self) -> str:
        """``procedure`` (a catalogue id is expected) or the special label."""
        return self.expect[0] if self.expect[0] in SPECIAL_LABELS else "procedure"


@dataclass
class EvalSet:
    """Single questions and conversations read from evaluation files."""

    questions: list[Question] = field(default_factory=list)
    conversations: list[list[Question]] = field(default_factory=list)


def _question(item: Any, where: str, catalogue: Catalogue) -> Question:
    if not isinstance(item, dict) or not isinstance(item.get("q"), str):
        raise MotcuaError(f"{where}: expected a mapping with q:, expect:, aspect:")
    expect = item.get("expect")
    ids = tuple(expect) if isinstance(expect, list) else (str(expect),)
    for label in ids:
        if label not in SPECIAL_LABELS and catalogue.get(label) is None:
            raise MotcuaError(f"{where}: expect: unknown catalogue id {label!r}")
    aspect = item.get("aspect")
    return Question(item["q"], ids, None if aspect in (None, "null") else str(aspect), where)


def load_eval(paths: list[Path], catalogue: Catalogue) -> EvalSet:
    """Read evaluation files, checking every label against the catalogue."""
    data = EvalSet()
    for path in paths:
        try:
            items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as exc:
            raise MotcuaError(f"{path}: cannot read evaluation file ({exc})") from None
        if isinstance(items, dict) and set(items) <= {"questions", "conversations"}:
            # One file holding both: {questions: [...], conversations: [...]}.
            items = [*(items.get("questions") or []), *(items.get("conversations") or [])]
        if not isinstance(items, list):
            raise MotcuaError(f"{path}: expected a list of questions or conversations")
        for i, item in enumerate(items, 1):
            where = f"{path} item {i}"
            if isinstance(item, dict) and "turns" in item:
                turns = [_question(t, f"{where} turn {j}", catalogue) for j, t in enumerate(item["turns"], 1)]
                data.conversations.append(turns)
            else:
                data.questions.append(_question(item, where, catalogue))
    return data


@functools.lru_cache(maxsize=None)
def _numbers_in(path: Path) -> frozenset[str]:
    """The digits of every number written in a catalogue file."""
    text = path.read_text(encoding="utf-8")
    return frozenset(re.sub(r"\D", "", m) for m in re.findall(r"\d[\d.,]*", text))


def unsupported_numbers(reply: str, procs: list[Procedure]) -> list[str]:
    """Amounts and durations in ``reply`` (e.g. "8.000 đồng", "3 ngày") that appear in
    none of ``procs``' files: facts the bot must never make up."""
    digits = set().union(*(_numbers_in(p.path) for p in procs if p.path))
    return [m.group(0) for m in _NUMBER_WITH_UNIT.finditer(reply) if re.sub(r"\D", "", m.group(1)) not in digits]


@dataclass
class Figures:
    """Accuracy figures of one ranking method."""

    top1: float = 0.0
    top3: float = 0.0
    refused: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def _share(hits: int, total: int) -> float:
    return 100.0 * hits / total if total else 0.0


async def evaluate_engine(engine: Engine, data: EvalSet) -> tuple[Figures, list[str]]:
    """Run the engine over the set; returns its figures and a description of each failure."""
    failures: list[str] = []
    proc_q = [q for q in data.questions if q.kind == "procedure"]
    top1 = top3 = direct = aspect_ok = intent_ok = refused = 0
    bad_numbers = 0

    async def ask(q: Question, chat: str) -> Response:
        return await engine.handle(Incoming("eval", chat, chat, q.text))

    def check_numbers(resp: Response) -> None:
        nonlocal bad_numbers
        procs = [p for m in resp.matches if (p := engine.catalogue.get(m.id))]
        if resp.intent in (Intent.PROCEDURE, Intent.REFERRAL):
            wrong = unsupported_numbers(resp.to_json()["reply"], procs)
            if wrong:
                bad_numbers += 1
                failures.append(f"made-up number {wrong}: {resp.to_json()['reply'][:80]!r}")

    for n, q in enumerate(data.questions):
        resp = await ask(q, f"q{n}")
        check_numbers(resp)
        ids = [m.id for m in resp.matches]
        want_intent = {"none": Intent.UNKNOWN, "status": Intent.STATUS, "help": Intent.HELP}.get(q.kind)
        if q.kind == "procedure":
            expected_intent = (
                Intent.REFERRAL if engine.catalogue.get(q.expect[0]).is_referral else Intent.PROCEDURE  # type: ignore[union-attr]
            )
            hit1 = bool(ids) and ids[0] in q.expect and resp.intent is not Intent.UNKNOWN
            top1 += hit1
            top3 += any(i in q.expect for i in ids[:3])
            is_choice = any(r.text.startswith("Ông/bà muốn hỏi") for r in resp.replies)
            direct += hit1 and not is_choice
            intent_ok += resp.intent is expected_intent
            aspect_ok += (resp.aspect.value if resp.aspect else None) == q.aspect
            if not hit1:
                failures.append(f"{q.where}: {q.text!r}: expected {'/'.join(q.expect)}, got {ids[:3]} ({resp.intent.value})")
            elif (resp.aspect.value if resp.aspect else None) != q.aspect:
                failures.append(f"{q.where}: {q.text!r}: aspect {q.aspect}, got {resp.aspect}")
        else:
            ok = resp.intent is want_intent
            intent_ok += ok
            if q.kind == "none":
                refused += ok
            if not ok:
                failures.append(f"{q.where}: {q.text!r}: expected {q.kind}, got {resp.intent.value} {ids[:1]}")

    turns = turns_ok = convs_ok = 0
    for c, conversation in enumerate(data.conversations):
        all_ok = True
        for q in conversation:
            resp = await ask(q, f"c{c}")
            check_numbers(resp)
            ids = [m.id for m in resp.matches]
            if q.kind == "procedure":
                ok = bool(ids) and ids[0] in q.expect and (resp.aspect.value if resp.aspect else None) == q.aspect
            else:
                ok = resp.intent.value == {"none": "unknown"}.get(q.kind, q.kind)
            turns += 1
            turns_ok += ok
            all_ok &= ok
            if not ok:
                failures.append(
                    f"{q.where}: {q.text!r}: expected {'/'.join(q.expect)} {q.aspect}, got {ids[:1]} {resp.aspect}"
                )
        convs_ok += all_ok

    none_q = [q for q in data.questions if q.kind == "none"]
    figures = Figures(
        top1=_share(top1, len(proc_q)),
        top3=_share(top3, len(proc_q)),
        refused=_share(refused, len(none_q)),
        extra={
            "answered directly and rightly": _share(direct, len(proc_q)),
            "intent": _share(intent_ok, len(data.questions)),
            "aspect": _share(aspect_ok, len(proc_q)),
            "multi-turn (turns)": _share(turns_ok, turns),
            "multi-turn (whole conversations)": _share(convs_ok, len(data.conversations)),
            "replies with a made-up number": float(bad_numbers),
        },
    )
    return figures, failures


def evaluate_ranker(
    rank: Callable[[str], list[tuple[str, float]]], refuse: Callable[[float], bool], data: EvalSet
) -> Figures:
    """Top-1/top-3 and refusal figures of a plain ranking function (a baseline)."""
    proc_q = [q for q in data.questions if q.kind == "procedure"]
    none_q = [q for q in data.questions if q.kind == "none"]
    top1 = top3 = refused = 0
    for q in proc_q:
        ranked = rank(q.text)
        top1 += bool(ranked) and ranked[0][0] in q.expect
        top3 += any(i in q.expect for i, _ in ranked[:3])
    for q in none_q:
        ranked = rank(q.text)
        refused += not ranked or refuse(ranked[0][1])
    return Figures(_share(top1, len(proc_q)), _share(top3, len(proc_q)), _share(refused, len(none_q)))


def bm25_ranker(catalogue: Catalogue) -> Callable[[str], list[tuple[str, float]]]:
    """BM25 over the folded syllables of each whole procedure file."""
    procs = list(catalogue)
    corpus = [fold(p.path.read_text(encoding="utf-8") if p.path else p.name).split() for p in procs]
    bm25 = BM25Okapi(corpus)

    def rank(text: str) -> list[tuple[str, float]]:
        scores = bm25.get_scores(fold(text).split())
        order = sorted(range(len(procs)), key=lambda i: -scores[i])[:3]
        return [(procs[i].id, float(scores[i])) for i in order if scores[i] > 0]

    return rank


def wratio_ranker(catalogue: Catalogue) -> Callable[[str], list[tuple[str, float]]]:
    """rapidfuzz WRatio of the folded question against each folded official name."""
    procs = list(catalogue)
    names = [fold(p.name) for p in procs]

    def rank(text: str) -> list[tuple[str, float]]:
        found = process.extract(fold(text), names, scorer=fuzz.WRatio, limit=3)
        return [(procs[i].id, score) for _, score, i in found]

    return rank


def run_evaluation(config: Config, paths: list[Path], *, show_failures: bool = False) -> int:
    """Print the figures of the engine and both baselines; returns the exit status."""
    catalogue = load_catalogue(config.catalogue.dir)
    data = load_eval(paths, catalogue)
    engine = Engine.build(config, catalogue)
    figures, failures = asyncio.run(evaluate_engine(engine, data))
    bm25 = evaluate_ranker(bm25_ranker(catalogue), lambda s: s <= 0, data)
    wratio = evaluate_ranker(wratio_ranker(catalogue), lambda s: s < WRATIO_REFUSE_BELOW, data)

    n_proc = sum(q.kind == "procedure" for q in data.questions)
    n_none = sum(q.kind == "none" for q in data.questions)
    print(
        f"{len(data.questions)} questions ({n_proc} procedure/referral, {n_none} out of scope), "
        f"{len(data.conversations)} conversations, {len(catalogue)} catalogue entries"
    )
    print(f"{'':34}{'motcua':>9}{'BM25':>9}{'WRatio':>9}")
    for label, attr in (("top-1 accuracy %", "top1"), ("top-3 accuracy %", "top3"), ("out-of-scope refused %", "refused")):
        row = [getattr(f, attr) for f in (figures, bm25, wratio)]
        print(f"{label:34}" + "".join(f"{v:9.1f}" for v in row))
    for label, value in figures.extra.items():
        unit = "" if label.startswith("replies") else " %"
        print(f"{label + unit:34}{value:9.1f}")
    if show_failures and failures:
        print("\nFailures:")
        for line in failures:
            print(f"- {line}")
    elif failures:
        print(f"\n{len(failures)} failures (see them with --failures)")
    return 0
