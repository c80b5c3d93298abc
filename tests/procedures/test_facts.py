"""Facts a question states: a foreign element, a neighbouring country in a border area,
a registration already made abroad."""

from __future__ import annotations

import pytest

from bot.procedures.facts import ABROAD, BORDER, CLAUSE, FOREIGN, FactReader, Facts, clause_tokens
from bot.procedures.normalize import Normalizer


def read(text: str) -> Facts:
    return FactReader.load().read(Normalizer.default().tokens(text), 2026)


@pytest.mark.parametrize(
    "text",
    [
        "vợ tôi là Việt kiều",
        "ông là kiều bào",
        "chồng em người Canada",
        "anh ấy định cư bên Mỹ",
        "bạn trai người Đức",
        "lấy chồng Tây",
        "mẹ là người Lào",
    ],
)
def test_a_foreign_element_is_read(text: str) -> None:
    assert FOREIGN in read(text).stated


@pytest.mark.parametrize(
    "text",
    [
        "khai sinh quá hạn",  # hạn, not Hàn
        "người lao động làm khai sinh cho con",  # lao động, not Lào
        "nộp ở tư pháp xã",  # tư pháp, not Pháp
        "ông đi bộ đội chống Mỹ",  # chống Mỹ, not a husband from America
        "bé ngã gãy tay",
        "con học ở đại học",
    ],
)
def test_common_words_that_look_like_a_country_are_not_one(text: str) -> None:
    assert read(text).stated == frozenset()


def test_a_neighbouring_country_and_a_border_area() -> None:
    facts = read("lấy vợ người Lào, nhà ở xã biên giới")
    assert {FOREIGN, BORDER} <= facts.stated and facts.neighbour
    assert not read("lấy vợ người Nhật, nhà ở xã biên giới").neighbour


@pytest.mark.parametrize(
    "text",
    [
        "con sinh ở Nhật, đã có giấy khai sinh Nhật",
        "đã đăng ký kết hôn tại Hàn Quốc",
        "mẹ mất bên Đức, bên đó cấp giấy chứng tử rồi",
        "giấy kết hôn cấp ở Đài Loan",
    ],
)
def test_a_registration_already_made_abroad(text: str) -> None:
    assert ABROAD in read(text).stated


@pytest.mark.parametrize(
    "text", ["khai sinh cho con, chồng em là người Nhật", "đăng ký kết hôn với người Hàn Quốc cần gì"]
)
def test_a_foreign_element_alone_is_not_a_registration_abroad(text: str) -> None:
    facts = read(text)
    assert FOREIGN in facts.stated and ABROAD not in facts.stated


def test_declined_words_follow_a_declining_word() -> None:
    tokens = Normalizer.default().tokens("làm khai sinh và thẻ bhyt, không cần nhập khẩu")
    assert {"nhap", "khau"} <= FactReader.load().declined_words(tokens)


@pytest.mark.parametrize(
    "text",
    ["cả hai là người Việt, không ai là người nước ngoài", "chồng em không phải người Hàn", "nhà không ở xã biên giới"],
)
def test_a_fact_denied_just_before_is_not_stated(text: str) -> None:
    assert read(text).stated == frozenset()


def test_a_denial_reaches_only_within_its_clause() -> None:
    tokens = clause_tokens("sổ ở xã cũng không còn, mẹ là kiều bào", Normalizer.default())
    assert CLAUSE in tokens
    assert FOREIGN in FactReader.load().read(tokens, 2026).stated
