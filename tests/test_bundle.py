"""Splitting a message that carries several residents' questions."""

from __future__ import annotations

import pytest

from bot.bundle import split_bundle


@pytest.mark.parametrize(
    "text",
    [
        "Chào anh, thôn 3 hỏi:\n1) làm khai tử cần gì\n2) chứng thực bản sao bao nhiêu tiền\n3) xin giấy độc thân ở đâu",
        "1. làm khai tử cần gì 2. chứng thực bản sao bao nhiêu tiền 3. xin giấy độc thân ở đâu",
        "- làm khai tử cần gì\n- chứng thực bản sao bao nhiêu tiền\n- xin giấy độc thân ở đâu",
        "làm khai tử cần gì\nchứng thực bản sao bao nhiêu tiền\nxin giấy độc thân ở đâu",
        "Bà Lan hỏi làm khai tử cần gì. Anh Tú hỏi chứng thực bản sao bao nhiêu tiền, chị Hoa thôn 2 nhờ hỏi xin giấy độc thân ở đâu",
    ],
)
def test_each_way_of_listing_questions_gives_every_part(text: str) -> None:
    parts = split_bundle(text)
    assert len(parts) == 3
    assert "khai tử" in parts[0] and "bản sao" in parts[1] and "độc thân" in parts[2]


@pytest.mark.parametrize(
    "text",
    [
        "làm giấy khai sinh cho con cần gì",
        "Chào anh\nlàm giấy khai sinh cần gì",
        "con tôi sinh ngày 1/2 năm 2026, khai sinh mất bao lâu",
        "bà nội 72 tuổi có được hỗ trợ gì không",
    ],
)
def test_one_question_stays_whole(text: str) -> None:
    assert split_bundle(text) == [text]
