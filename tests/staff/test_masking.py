"""Kept questions never hold phone numbers, dossier codes, ID numbers, e-mails or names."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from bot.staff.masking import CODE, EMAIL, NAME, NUMBER, PHONE, mask

#: A phone number as people type it: 0 or +84, then 8-10 digits, single separators allowed.
PHONE_SHAPE = re.compile(r"(?:\+?84|0)(?:[ .\-]?\d){8,10}")
LONG_RUN = re.compile(r"\d{6,}")


def test_phone_numbers_in_the_ways_people_write_them() -> None:
    for text in ("0912345678", "0912 345 678", "0912.345.678", "+84 912-345-678", "sđt:0225 3567 777"):
        masked = mask(f"gọi cho tôi {text} nhé")
        assert PHONE in masked and not re.search(r"\d{3}", masked), masked


def test_dossier_codes_whole_and_tail() -> None:
    assert mask("hồ sơ 000.00.14.H56-261119-0013 đến đâu") == f"hồ sơ {CODE} đến đâu"
    assert mask("261119-0013 và 261126-0010 sao rồi") == f"{CODE} và {CODE} sao rồi"


def test_id_numbers_and_emails() -> None:
    assert mask("cccd 001234567890 mất rồi") == f"cccd {NUMBER} mất rồi"
    assert mask("cmnd số 123 456 789") == f"cmnd số {NUMBER}"
    assert mask("gửi vào an.nguyen+xa@gmail.com.vn giúp") == f"gửi vào {EMAIL} giúp"


def test_names_after_a_family_name_or_a_cue() -> None:
    assert mask("Nguyễn Văn An muốn đăng ký kết hôn") == f"{NAME} muốn đăng ký kết hôn"
    assert mask("con tôi tên là Minh Anh cần khai sinh") == f"con tôi tên là {NAME} cần khai sinh"
    assert mask("xác nhận khuyết tật cho con") == "xác nhận khuyết tật cho con"


def test_the_question_stays_readable() -> None:
    assert mask("lệ phí 50.000 đồng hả, năm 2024 có đổi không") == "lệ phí 50.000 đồng hả, năm 2024 có đổi không"
    assert mask("ở số nhà 15 ngõ 3") == "ở số nhà «số nhà» ngõ «số nhà»"


digits = st.text(alphabet="0123456789", min_size=1, max_size=12)
separators = st.sampled_from(["", " ", ".", "-", "  ", "(", ")", "\n", "\t", "/", ",", "a", "+"])
pieces = st.lists(st.one_of(digits, separators, st.text(max_size=6)), max_size=20)


@settings(max_examples=400, deadline=None)
@given(pieces)
def test_no_long_digit_run_or_phone_survives(parts: list[str]) -> None:
    masked = mask("".join(parts))
    assert not LONG_RUN.search(masked), masked
    assert not PHONE_SHAPE.search(masked), masked


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_masked_without_error(text: str) -> None:
    masked = mask(text)
    assert not LONG_RUN.search(masked)
    assert mask(masked) == masked  # masking twice changes nothing more
