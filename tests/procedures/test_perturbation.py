"""The bot keeps its answer when a question is typed the way people type on a phone:
without diacritics, with one slip of a finger, or in teencode.

For every procedure or referral question of ``tests/eval/questions.yaml``, three variants
are made (deterministically: the random typo comes from an RNG seeded by the question):
the question without diacritics, with one typo (a letter dropped, doubled, swapped with
its neighbour or replaced, inside a word of three letters or more), and in teencode
("ko" for không, "dc" for được, "đk" for đăng ký...). A variant keeps the answer when
the engine's top entry is the one it gives for the original question and it is not
refused. Variants identical to their question (nothing to change) are not counted.
"""

from __future__ import annotations

import asyncio
import random
import re
import unicodedata
from pathlib import Path

import pytest

from bot.config import Config
from bot.dialogue import Engine
from bot.evaluate import load_eval
from bot.messages import Incoming, Intent
from bot.procedures.catalogue import Catalogue

EVAL = Path(__file__).resolve().parent.parent / "eval" / "questions.yaml"
#: Share of the variants (all three kinds together) that must keep the answer. Measured
#: on questions.yaml: 91.0% before the context spelling corrector (typo 82.1%, no
#: diacritics 100%, teencode 98.1%), 97.9% with it (typo 96.6%); on dev.yaml, never
#: tuned on, 90.6% before and 95.6% after.
THRESHOLD = 97.0

#: Letters a slipping finger may type instead of the intended one.
_LETTERS = "abcdeghiklmnopqrstuvxy"
_WORD = re.compile(r"\w{3,}")

#: Teencode, longest phrases first; each phrase's spellings are chosen by the RNG.
TEENCODE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("như thế nào", ("ntn",)),
    ("bao nhiêu", ("bn", "bnh")),
    ("đăng ký", ("đk", "dk")),
    ("đăng kí", ("đk", "dk")),
    ("không", ("k", "ko", "hok", "khum")),
    ("được", ("dc", "đc")),
    ("gì", ("j", "gj")),
    ("muốn", ("mún",)),
    ("làm", ("lm",)),
    ("mình", ("mk", "mik")),
    ("với", ("vs",)),
    ("chồng", ("ck",)),
    ("vợ", ("vk",)),
    ("giấy khai sinh", ("gks",)),
    ("người", ("ng",)),
    ("thời gian", ("tg",)),
)


def strip_diacritics(text: str) -> str:
    """``text`` with its diacritics removed (đ to d), case and punctuation kept."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def one_typo(text: str, rng: random.Random) -> str:
    """``text`` with one letter dropped, doubled, swapped or replaced inside a word of
    three letters or more (unchanged when it has no such word)."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    word = rng.choice(words)
    w = word.group()
    i = rng.randrange(len(w))
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        w = w[:i] + w[i + 1 :]
    elif kind == "double":
        w = w[: i + 1] + w[i:]
    elif kind == "swap":
        i = min(i, len(w) - 2)
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    else:
        w = w[:i] + rng.choice([c for c in _LETTERS if c != w[i].lower()]) + w[i + 1 :]
    return text[: word.start()] + w + text[word.end() :]


def teencode(text: str, rng: random.Random) -> str:
    """``text`` with every phrase of :data:`TEENCODE` written as teenagers do."""
    out = unicodedata.normalize("NFC", text)
    for phrase, codes in TEENCODE:
        pattern = re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.IGNORECASE)
        out = pattern.sub(lambda _: rng.choice(codes), out)
    return out


def variants(text: str) -> dict[str, str]:
    """The three variants of ``text``, by kind (same text, same variants)."""
    rng = random.Random(f"perturbation:{text}")
    return {"diacritics": strip_diacritics(text), "typo": one_typo(text, rng), "teencode": teencode(text, rng)}


async def _top(engine: Engine, text: str, chat: str) -> str | None:
    resp = await engine.handle(Incoming("eval", chat, chat, text))
    if resp.intent is Intent.UNKNOWN or not resp.matches:
        return None
    return resp.matches[0].id


async def kept_shares(engine: Engine, texts: list[str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Per variant kind: (variants that kept the answer, variants counted); and the misses."""
    counts: dict[str, list[int]] = {}
    misses: list[str] = []
    n = 0
    for text in texts:
        n += 1
        want = await _top(engine, text, f"o{n}")
        for kind, variant in variants(text).items():
            if variant == text:
                continue
            n += 1
            got = await _top(engine, variant, f"v{n}")
            tally = counts.setdefault(kind, [0, 0])
            tally[1] += 1
            if got == want:
                tally[0] += 1
            else:
                misses.append(f"{kind}: {variant!r}: {got} (not {want})")
    return {k: (v[0], v[1]) for k, v in counts.items()}, misses


def test_variant_makers_are_deterministic_and_change_text() -> None:
    text = "Đăng ký kết hôn cần giấy tờ gì, có mất phí không?"
    assert variants(text) == variants(text)
    made = variants(text)
    assert made["diacritics"] == "Dang ky ket hon can giay to gi, co mat phi khong?"
    assert made["teencode"].split()[:2] in (["đk", "kết"], ["dk", "kết"])
    assert "không" not in made["teencode"] and "gì" not in made["teencode"]
    typo = made["typo"]
    assert typo != text and abs(len(typo) - len(text)) <= 1


@pytest.fixture(scope="module")
def in_repo_questions(catalogue: Catalogue) -> list[str]:
    data = load_eval([EVAL], catalogue)
    return [q.text for q in data.questions if q.kind == "procedure"]


def test_answers_survive_how_people_type(catalogue: Catalogue, in_repo_questions: list[str]) -> None:
    engine = Engine.build(Config(), catalogue)
    shares, misses = asyncio.run(kept_shares(engine, in_repo_questions))
    kept = sum(k for k, _ in shares.values())
    total = sum(t for _, t in shares.values())
    assert total >= 600
    share = 100.0 * kept / total
    assert share >= THRESHOLD, (f"{share:.1f}% kept", shares, misses[:20])
