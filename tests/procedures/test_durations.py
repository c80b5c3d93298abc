"""Ages and elapsed times stated in a folded question."""

from __future__ import annotations

import pytest

from bot.procedures.durations import StatedAge, parse_age, stated_ages
from bot.procedures.normalize import Normalizer

YEAR = 2026


def ages(text: str) -> list[StatedAge]:
    return stated_ages(Normalizer.default().tokens(text), YEAR)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("bé nhà em 4 tháng rồi", 120),
        ("con được mười lăm ngày", 15),
        ("cháu hai mươi hai ngày tuổi", 22),
        ("mới sinh 1 tuần", 7),
        ("bé 3 tuổi", 3 * 365.25),
        ("bé 2 tháng rưỡi", 75),
        ("nửa năm rồi chưa làm", 182.625),
        ("ông sinh năm 1950", 76 * 365.25),
    ],
)
def test_an_age_in_digits_or_words_is_read_in_days(text: str, days: float) -> None:
    assert ages(text) == [StatedAge(pytest.approx(days))]


def test_words_before_a_number_bound_it() -> None:
    assert ages("quá 2 tháng chưa khai sinh") == [StatedAge(60, "over")]
    assert ages("hơn 60 ngày") == [StatedAge(60, "over")]
    assert ages("trong vòng 60 ngày") == [StatedAge(60, "under")]
    assert ages("chưa đầy một tháng") == [StatedAge(30, "under")]
    near = ages("gần 1 tuổi")
    assert len(near) == 1 and near[0].bound == "about" and 300 < near[0].days < 365


def test_a_bound_tells_only_on_its_own_side() -> None:
    assert StatedAge(60, "over").over(60) is True
    assert StatedAge(30, "over").over(60) is None  # "hơn 1 tháng": not told
    assert StatedAge(30, "under").over(60) is False
    assert StatedAge(90, "under").over(60) is None
    assert StatedAge(60).over(60) is False  # "2 tháng": not yet past 60 days


@pytest.mark.parametrize(
    "text",
    ["tháng 10 năm 2013", "cưới năm 1998", "khai sinh năm 1970 bị mất", "sinh năm 1800", "khai sinh quá hạn"],
)
def test_dates_and_registration_years_are_no_age(text: str) -> None:
    assert ages(text) == []


def test_the_work_is_one_pass_over_a_long_message() -> None:
    long = " ".join(["bé 3 tháng"] * 2000)
    assert len(ages(long)) == 2000


def test_a_family_files_age_value_is_a_number_and_a_unit() -> None:
    assert parse_age("60 ngày") == 60
    assert parse_age("18 tuổi") == 18 * 365.25
    assert parse_age("sáu mươi ngày") is None
    assert parse_age("60") is None
