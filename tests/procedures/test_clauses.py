"""The asking part of a message chooses among what the whole message names."""

from __future__ import annotations

import pytest

from bot.config import MatchingConfig
from bot.dialogue import Engine
from bot.messages import Incoming
from bot.procedures.catalogue import Catalogue
from bot.procedures.clauses import asked_part, refocus
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Matcher
from bot.procedures.normalize import Normalizer


@pytest.fixture(scope="module")
def words() -> tuple[Normalizer, Lexicon]:
    normalizer = Normalizer.default()
    return normalizer, Lexicon.load(normalizer)


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("kết hôn lần 2 thì cần giấy tờ gì, tôi ly hôn rồi", "kết hôn lần 2 thì cần giấy tờ gì"),
        ("mẹ tôi mất năm ngoái. Bố muốn cưới vợ mới thì làm ở đâu?", "Bố muốn cưới vợ mới thì làm ở đâu"),
        # A list between two asking clauses belongs to the question.
        ("cụ vừa mất, nhà muốn làm cả khai tử, xóa thường trú, mai táng phí, nhờ anh hướng dẫn",
         "nhà muốn làm cả khai tử, xóa thường trú, mai táng phí, nhờ anh hướng dẫn"),
        # No question word anywhere: the request comes last.
        ("chồng em người Hàn, tụi em đã đăng ký kết hôn, giờ làm khai sinh cho con", "giờ làm khai sinh cho con"),
    ],
)
def test_the_asking_clauses_are_told_from_the_story(words: tuple[Normalizer, Lexicon], text: str, asked: str) -> None:
    assert asked_part(text, *words) == asked


@pytest.mark.parametrize(
    "text",
    [
        "làm giấy khai sinh cần gì",  # one clause
        "khai sinh cần gì, mất bao lâu",  # every clause asks
    ],
)
def test_no_asking_part_without_a_story(words: tuple[Normalizer, Lexicon], text: str) -> None:
    assert asked_part(text, *words) is None


def test_the_asking_part_takes_the_lead_only_from_an_entry_it_does_not_name(
    catalogue: Catalogue, words: tuple[Normalizer, Lexicon]
) -> None:
    normalizer, lexicon = words
    matcher = Matcher(catalogue, normalizer, lexicon, MatchingConfig())
    text = "kết hôn lần 2 thì cần giấy tờ gì, tôi ly hôn rồi"
    whole = matcher.rank(text)
    assert whole[0].procedure.id == "ly-hon"  # the whole message leans on the divorce
    focused = refocus(catalogue, matcher, whole, asked_part(text, normalizer, lexicon))
    assert focused[0].procedure.id == "ket-hon" and focused[0].score == whole[0].score
    assert [m.score for m in focused] == sorted((m.score for m in focused), reverse=True)
    # Without a story nothing changes.
    assert refocus(catalogue, matcher, whole, None) == whole


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kết hôn lần 2 thì cần giấy tờ gì, tôi ly hôn rồi", "ket-hon"),
        ("tôi ly hôn được 3 năm rồi, giờ muốn lấy vợ mới thì cần giấy gì", "ket-hon"),
        # The story refines the asked procedure: the foreign-element birth registration.
        ("chồng em người Lào, bé sinh ở Việt Nam, làm giấy khai sinh cho bé mất bao lâu", "khai-sinh-nuoc-ngoai"),
        # "mất cả rồi" tells the story; only the guardianship is asked ("cả" joins nothing).
        ("bố mẹ cháu mất cả rồi, ông bà muốn làm người giám hộ cho cháu thì làm thủ tục gì", "giam-ho"),
    ],
)
async def test_the_engine_answers_what_is_asked_not_the_story(engine: Engine, text: str, expected: str) -> None:
    response = await engine.handle(Incoming("test", "c1", "u1", text))
    assert response.matches and response.matches[0].id == expected
    assert "việc" not in response.replies[0].text.split("\n")[0]  # one answer, not "Câu hỏi có 2 việc"
