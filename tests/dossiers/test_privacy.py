"""Masking of applicants and checking of phone digits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.dossiers.privacy import mask_name, phone_digits, phone_matches


def test_mask_name_keeps_family_name_and_initials() -> None:
    assert mask_name("Nguyễn Văn An") == "Nguyễn V. A."
    assert mask_name("Đặng Đức") == "Đặng Đ."
    assert mask_name("  Trần   Thị  Bích ") == "Trần T. B."
    assert mask_name("Tôn Nữ Thị Ánh Hồng") == "Tôn N. T. Á. H."


def test_mask_name_of_capitals_and_odd_input() -> None:
    assert mask_name("NGUYỄN VĂN AN") == "Nguyễn V. A."
    assert mask_name("nguyễn văn an") == "Nguyễn V. A."
    assert mask_name("") == "(không rõ tên)"
    assert mask_name("  -  ") == "(không rõ tên)"
    assert mask_name("An") == "A."


@given(st.lists(st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyÁÀẢÃẠĐ", min_size=2, max_size=8), min_size=2, max_size=5))
def test_mask_name_never_reveals_given_names(words: list[str]) -> None:
    masked = mask_name(" ".join(words))
    parts = masked.split(" ")
    assert len(parts) == len(words)
    assert all(len(p) == 2 and p.endswith(".") for p in parts[1:])


def test_phone_digits_and_matching() -> None:
    assert phone_digits("0912 000-101") == "0912000101"
    assert phone_matches("0912 000 101", "101")
    assert phone_matches("+84 912 000 101", "1 0 1")
    assert not phone_matches("0912 000 101", "102")
    assert not phone_matches("0912 000 101", "0101")
    assert not phone_matches("0912 000 101", "01")
    assert not phone_matches("", "101")
