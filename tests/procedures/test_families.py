"""Reading questions against the catalogue's families."""

from __future__ import annotations

from bot.config import MatchingConfig
from bot.procedures.catalogue import Catalogue
from bot.procedures.families import FamilyReader, _in_order
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Matcher
from bot.procedures.normalize import Normalizer


def reader_for(catalogue: Catalogue) -> tuple[FamilyReader, Matcher, Normalizer]:
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    matcher = Matcher(catalogue, normalizer, lexicon, MatchingConfig())
    return FamilyReader(catalogue, normalizer, lexicon, matcher, MatchingConfig()), matcher, normalizer


def test_a_situation_is_read_as_its_family_unless_a_variant_is_named(catalogue: Catalogue) -> None:
    reader, matcher, _ = reader_for(catalogue)
    lost = "mất giấy khai sinh"
    family = reader.situation(lost, matcher.rank(lost))
    assert family is not None and family.id == "mat-giay-khai-sinh"
    named = "ông tôi 60 tuổi chưa từng có giấy khai sinh, đã có căn cước, giờ đăng ký khai sinh"
    ranked = matcher.rank(named)
    assert ranked[0].procedure.id == "khai-sinh-nguoi-da-co-giay-to"  # a variant, named by its own words
    assert reader.situation(named, ranked) is None


def test_a_said_phrase_picks_its_member(catalogue: Catalogue) -> None:
    reader, _, normalizer = reader_for(catalogue)
    text = "giấy khai sinh mất, sổ ở xã cũng không còn"
    picked = reader.said_variant(text, normalizer.tokens(text))
    assert picked is not None and picked.id == "dang-ky-lai-khai-sinh"


def test_words_in_order_with_a_few_between() -> None:
    assert _in_order(["so", "khong", "con"], ["so", "o", "xa", "khong", "con"], slack=3)
    assert not _in_order(["so", "khong", "con"], ["khong", "con", "so"], slack=3)
    assert not _in_order(["so", "con"], ["so", "a", "b", "c", "d", "e", "con"], slack=3)


def test_a_strong_variant_stands_when_the_common_case_is_not_ranked(catalogue: Catalogue) -> None:
    """'đăng ký lại kết hôn' names the re-registration outright: the lost-paper family's
    common case (a copy of the record) is not even ranked, so it is not answered instead."""
    reader, matcher, _ = reader_for(catalogue)
    for text in ("dang ky lai ket hon mat bao lau", "sổ đỏ bị mất rồi làm lại cần giấy tờ gì"):
        ranked = matcher.rank(text)
        assert ranked[0].score >= 80, text
        assert reader.situation(text, ranked) is None, text
    # A weaker reading still gets the common case and the deciding question.
    text = "gks bị mất làm lại được không"
    family = reader.situation(text, matcher.rank(text))
    assert family is not None and family.id == "mat-giay-khai-sinh"
