"""Reading a follow-up against the conversation's current topic (bot/topics.py)."""

from __future__ import annotations

import pytest

from bot.config import MatchingConfig
from bot.procedures.catalogue import Catalogue
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Matcher
from bot.procedures.normalize import Normalizer
from bot.topics import TopicReader


@pytest.fixture(scope="module")
def reading(catalogue: Catalogue) -> tuple[TopicReader, Matcher]:
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    matcher = Matcher(catalogue, normalizer, lexicon, MatchingConfig())
    return TopicReader(catalogue, normalizer, lexicon, matcher), matcher


def test_more_about_the_topic_or_another_subject(reading: tuple[TopicReader, Matcher], catalogue: Catalogue) -> None:
    topics, matcher = reading
    khai_sinh = catalogue.procedures["khai-sinh"]
    for text in ("thế còn lệ phí?", "mất bao lâu"):
        ranked = matcher.rank(text)
        assert topics.continues(khai_sinh, text, ranked, matcher.decide(ranked)), text
    text = "giá vàng hôm nay bao nhiêu"
    ranked = matcher.rank(text)
    assert not topics.continues(khai_sinh, text, ranked, matcher.decide(ranked))


def test_a_close_entry_named_instead_of_the_topic(reading: tuple[TopicReader, Matcher], catalogue: Catalogue) -> None:
    topics, matcher = reading
    ban_sao = catalogue.procedures["chung-thuc-ban-sao"]
    text = "thế chữ ký thì sao"
    other = topics.recover(ban_sao, text, matcher.rank(text))
    assert other is not None and other.id.startswith("chung-thuc-chu-ky")
    assert topics.names_instead(other, ban_sao, text)


def test_returning_to_an_earlier_topic(reading: tuple[TopicReader, Matcher], catalogue: Catalogue) -> None:
    topics, matcher = reading
    current = catalogue.procedures["ket-hon"]
    text = "quay lại cái lúc nãy"
    ranked = matcher.rank(text)
    back = topics.resumed(current, text, ranked, matcher.decide(ranked), ["khai-tu", "ket-hon"])
    assert back is not None and back.id == "khai-tu"
    assert topics.resumed(current, text, ranked, matcher.decide(ranked), ["ket-hon"]) is None


def test_the_combined_entry_doing_both(reading: tuple[TopicReader, Matcher], catalogue: Catalogue) -> None:
    topics, matcher = reading
    text = "làm luôn thẻ bảo hiểm y tế cho cháu"
    combined = topics.combined(catalogue.procedures["khai-sinh"], matcher.rank(text))
    assert combined is not None and "khai-sinh" in combined.combines
