"""Finding dossier codes in what people type."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dossiers.codes import MAX_SCAN_CHARS, CodeFinder

FINDER = CodeFinder(r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}", "000.00.14.H56")


def test_full_codes_in_free_text_any_case_and_spacing() -> None:
    text = "tra cuu 000.00.14.h56-251120-0001 va 000.00.14.H56 - 251121 - 0002 giup em"
    assert FINDER.find(text) == ["000.00.14.H56-251120-0001", "000.00.14.H56-251121-0002"]


def test_tail_alone_is_completed_with_the_commune_prefix() -> None:
    assert FINDER.find("hồ sơ 251120-0001 xong chưa") == ["000.00.14.H56-251120-0001"]


def test_duplicates_and_non_codes_are_ignored() -> None:
    assert FINDER.find("0912 000 101, 2025-11-20, 000.00.14.H56-251120-0001 000.00.14.H56-251120-0001") == [
        "000.00.14.H56-251120-0001"
    ]
    assert FINDER.find("khai sinh cho con") == []


def old_find(text: str) -> list[str]:
    """The previous implementation (spaces squeezed with a quadratic expression), as reference."""
    import re

    full = re.compile(r"(?<![0-9A-Za-z])(?:\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4})(?![0-9])", re.I)
    tail = re.compile(r"(?<![\d])(\d{2})(\d{2})(\d{2})(?:\s*[-./_]\s*|\s+)(\d{4})(?![\d])")
    found: dict[str, None] = {}
    squeezed = re.sub(r"\s*([.\-])\s*", r"\1", text)
    for m in full.finditer(squeezed):
        found.setdefault(m.group(0).upper())
    for m in tail.finditer(full.sub(" ", squeezed)):
        yy, mm, dd, seq = m.groups()
        if 1 <= int(mm) <= 12 and 1 <= int(dd) <= 31:
            found.setdefault(f"000.00.14.H56-{yy}{mm}{dd}-{seq}")
    return list(found)


@settings(max_examples=400, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["000", ".", "00", "14", "H56", "h", "-", " ", "  ", "\n", "\t", "251120", "0001",
                         "2511", "20", "/", "_", "x", "1"]),
        max_size=30,
    ).map("".join)
)
def test_finds_what_it_found_before(text: str) -> None:
    assert FINDER.find(text) == old_find(text)


def test_only_the_first_characters_are_searched() -> None:
    code = "000.00.14.H56-251120-0001"
    assert FINDER.find(" " * (MAX_SCAN_CHARS - len(code)) + code) == [code]
    assert FINDER.find(" " * (MAX_SCAN_CHARS - len(code) + 1) + code) == []
    # Whatever follows the first MAX_SCAN_CHARS characters changes nothing.
    for nasty in (" " * 40_000 + "x", "1 " * 20_000, ". " * 20_000, "251120 " * 6_000, "0" * 40_000):
        assert FINDER.search(nasty) == FINDER.search(nasty[:MAX_SCAN_CHARS])
