"""Status names, free-text mapping, overdue and next steps."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dossiers.statuses import (
    FINAL,
    PENDING_ON_US,
    Status,
    fold,
    is_overdue,
    needs_visit,
    next_step,
    overdue_note,
    parse_status,
)

PORTAL_NAMES = [
    "Mới đăng ký",
    "Được tiếp nhận",
    "Không được tiếp nhận",
    "Đang xử lý",
    "Yêu cầu bổ sung giấy tờ",
    "Yêu cầu thực hiện nghĩa vụ tài chính",
    "Công dân yêu cầu rút hồ sơ",
    "Dừng xử lý",
    "Đã xử lý xong",
    "Đã trả kết quả",
]


def test_the_ten_portal_statuses_in_order() -> None:
    assert [s.label for s in Status] == PORTAL_NAMES


@pytest.mark.parametrize("status", list(Status))
def test_labels_keys_and_folded_forms_map_back(status: Status) -> None:
    assert parse_status(status.label) is status
    assert parse_status(status.label.upper()) is status
    assert parse_status(fold(status.label)) is status
    assert parse_status(f"  {status.label}. ") is status
    assert parse_status(status.value) is status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DANG XU LY", Status.PROCESSING),
        ("đang giải quyết", Status.PROCESSING),
        ("Đang xử lí", Status.PROCESSING),
        ("Đã tiếp nhận", Status.ACCEPTED),
        ("Chờ bổ sung hồ sơ", Status.SUPPLEMENT),
        ("da tra ket qua", Status.RETURNED),
        ("Từ chối tiếp nhận", Status.NOT_ACCEPTED),
        ("Rút hồ sơ", Status.WITHDRAWN),
    ],
)
def test_free_text_variants(text: str, expected: Status) -> None:
    assert parse_status(text) is expected


@pytest.mark.parametrize("text", ["", "Hoàn thành", "xử lý", "OK", "Đang xử lý xong"])
def test_unknown_or_ambiguous_text_is_not_guessed(text: str) -> None:
    assert parse_status(text) is None


def test_fold() -> None:
    assert fold("Thôn  3,") == "thon 3"
    assert fold("ĐƯỜNG Đê") == "duong de"
    assert fold("Mã hồ sơ") == fold("MA HO SO") == fold("ma-ho-so") == "ma ho so"
    # Decomposed input (combining marks, as cp1258 or macOS produce) folds the same.
    assert fold("Tie\u0302\u0301p nha\u0323\u0302n") == "tiep nhan"


def test_overdue_is_computed_only_while_the_result_is_owed() -> None:
    today = date(2026, 11, 29)
    past, future = date(2026, 11, 26), date(2026, 12, 2)
    assert is_overdue(Status.PROCESSING, past, today)
    assert is_overdue(Status.ACCEPTED, past, today)
    assert not is_overdue(Status.PROCESSING, future, today)
    assert not is_overdue(Status.PROCESSING, today, today)
    assert not is_overdue(Status.PROCESSING, None, today)
    for status in set(Status) - PENDING_ON_US:
        assert not is_overdue(status, past, today)


def test_next_steps() -> None:
    assert next_step(Status.DONE) == (
        "Đã xử lý xong: mời ông/bà đến bộ phận một cửa nhận kết quả, mang theo giấy biên nhận."
    )
    assert next_step(Status.SUPPLEMENT).startswith("Yêu cầu bổ sung giấy tờ:")
    assert all(next_step(s) for s in Status)
    assert needs_visit(Status.DONE) and not needs_visit(Status.PROCESSING)
    assert Status.RETURNED in FINAL and Status.DONE not in FINAL
    note = overdue_note(date(2026, 11, 24), date(2026, 11, 29), "0210 3800 000")
    assert "5 ngày" in note and "xin lỗi" in note and "0210 3800 000" in note
