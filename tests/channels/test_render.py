"""Rendering replies for channels: splitting and numbered choices."""

from hypothesis import given
from hypothesis import strategies as st

from bot.channels.render import numbered_choices, split_text
from bot.messages import Choice, Reply


def test_split_at_line_boundaries() -> None:
    text = "\n".join(f"dòng {i:03d}" for i in range(100))  # 8 characters a line
    chunks = split_text(text, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert "\n".join(chunks) == text
    assert all(not c.startswith("\n") for c in chunks)


def test_overlong_line_is_cut_at_spaces() -> None:
    chunks = split_text("từ " * 100, 50)
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == ("từ " * 100).split()


@given(st.text(min_size=1), st.integers(min_value=5, max_value=200))
def test_split_never_exceeds_the_limit_or_loses_text(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert all(len(c) <= limit for c in chunks)
    if text.strip():  # only white space may be dropped at the cuts
        assert "".join("".join(chunks).split()) == "".join(text.split())


def test_numbered_choices() -> None:
    reply = Reply("Chọn:", (Choice("Lệ phí", "a:x:fee"), Choice("Thời hạn", "a:x:time"), Choice("Nơi nộp", "a:x:where")))
    assert numbered_choices(reply) == "Chọn:\n\nTrả lời 1, 2 hoặc 3 để chọn:\n1. Lệ phí\n2. Thời hạn\n3. Nơi nộp"
    assert numbered_choices(Reply("Không có lựa chọn")) == "Không có lựa chọn"
