"""Reading procedure records of the national database (the portal's JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.procedures.national import NationalRecordError, parse_record, read_record_file
from tests.fakes.portal import portal_record


def test_a_portal_response_and_a_bare_record_read_the_same() -> None:
    response = portal_record(
        "2.000635", "cấp bản sao Trích lục hộ tịch", fees=[(8000, "")], days=[("Trong ngày", 1)],
        documents=["Tờ khai theo mẫu"], legal=["123/2015/NĐ-CP"],
    )
    wrapped = parse_record(response, "x.json")
    bare = parse_record(response["data"], "x.json")
    assert wrapped == bare
    assert wrapped.name == "Cấp bản sao Trích lục hộ tịch"  # "Thủ tục" dropped, capitalised
    assert wrapped.amounts == (8000,)
    assert wrapped.day_counts == (1,)
    assert wrapped.documents == ("Tờ khai theo mẫu",)
    assert wrapped.legal_codes == ("123/2015/NĐ-CP",)
    assert wrapped.decision == "163/QĐ-BTP" and wrapped.decision_date is not None
    assert wrapped.url.endswith("/thu-tuc-hanh-chinh/uuid-2.000635")
    assert wrapped.is_commune


def test_invisible_marks_inside_words_are_removed() -> None:
    record = parse_record(portal_record("1.000001", "đăng k\u200eý", documents=["Giấy\u200b tờ"]), "x")
    assert record.name == "Đăng ký" and record.documents == ("Giấy tờ",)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([1, 2], "not a procedure record"),
        ({"data": {"code": "12345", "name": "x"}}, "code: expected a national code"),
        ({"code": "1.000001"}, "name: missing"),
    ],
)
def test_records_that_are_not_procedures_are_refused_with_a_reason(payload: object, problem: str) -> None:
    with pytest.raises(NationalRecordError, match=problem):
        parse_record(payload, "rec.json")


def test_bad_files_give_one_line_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"code": "OK",\n "data": ', encoding="utf-8")
    with pytest.raises(NationalRecordError, match=r"broken.json:2: not valid JSON"):
        read_record_file(broken)
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(NationalRecordError, match="nested.json"):
        read_record_file(nested)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * 6_000_000)
    with pytest.raises(NationalRecordError, match="larger than"):
        read_record_file(huge)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(portal_record("1.001193", "đăng ký khai sinh")), encoding="utf-8")
    assert read_record_file(good).code == "1.001193"
