"""Finding dossier codes in what people type."""

from bot.dossiers.codes import CodeFinder

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
