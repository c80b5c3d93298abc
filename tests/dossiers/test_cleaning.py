"""Cleaning export text and recognising spreadsheet formulas."""

from __future__ import annotations

import pytest

from bot.dossiers.cleaning import clean_text, formula, shown


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Đăng ký khai sinh", "Đăng ký khai sinh"),
        ("  Nguyễn Văn An  ", "Nguyễn Văn An"),
        ("\x1b[2J\x1b[31mĐỏ\x1b[0m", "Đỏ"),
        ("tiêu đề\x1b]0;pwned\x07 cửa sổ", "tiêu đề cửa sổ"),
        ("a\x9b31mb", "ab"),
        ("Trần\u202e Thị\u200b Bích\ufeff", "Trần Thị Bích"),
        ("Thôn\t2,\r\nxã\u00a0Tân Hòa", "Thôn 2, xã Tân Hòa"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("Nguye\u0302\u0303n", "Nguyễn"),  # decomposed: NFC
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x","y")', "=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
     "-A1", "+SUM(1)", "=", "@@x", "--1"],
)
def test_formulas(value: str) -> None:
    assert formula(value)


@pytest.mark.parametrize(
    "value",
    ["Đăng ký khai sinh", "- Thôn 1, xã Tân Hòa", "+84 912 345 678", "@ nhà văn hóa", "", "-", "+ 1",
     "Nguyễn Văn An"],
)
def test_not_formulas(value: str) -> None:
    assert not formula(value)


def test_shown_is_short_and_safe() -> None:
    text = shown("\x1b[31m" + "x" * 100)
    assert len(text) == 40 and "\x1b" not in text and text.endswith("…")
