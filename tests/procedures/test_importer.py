"""Draft files from national records, and the differences ``motcua import --check`` lists."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.errors import CatalogueError
from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.procedures.importer import differences, draft_data, entry_for, write_draft
from bot.procedures.national import parse_record
from tests.fakes.portal import portal_record


def record(**kw):
    base = dict(fees=[(8000, "")], days=[("Trong ngày", 1)], documents=["Tờ khai", "Căn cước"],
                legal=["123/2015/NĐ-CP"])
    base.update(kw)
    return parse_record(portal_record("2.000635", "cấp bản sao Trích lục hộ tịch", **base), "rec")


def test_a_draft_keeps_the_facts_source_and_decision() -> None:
    data = draft_data(record(days=[("Trong ngày", 1), ("Phải xác minh", 3)]))
    assert data["draft"] is True and "reviewed" not in data
    assert data["fee"] == "8.000 đồng."
    assert data["time"] == "Trong ngày: 01 ngày làm việc; Phải xác minh: 03 ngày làm việc."
    assert data["documents"] == ["Tờ khai", "Căn cước"]
    assert "mã 2.000635" in data["source"][0] and "163/QĐ-BTP" in data["source"][0]
    assert "/thu-tuc-hanh-chinh/uuid-2.000635" in data["source"][0]
    assert data["national"]["fees"] == [8000] and data["national"]["days"] == [1, 3]


def test_a_zero_fee_without_words_is_never_called_free() -> None:
    data = draft_data(record(fees=[(0, "")]))
    assert "fee" not in data
    assert any("0 đồng" in n for n in data["notes"])
    assert draft_data(record(fees=[(0, "Miễn lệ phí")]))["fee"] == "Miễn lệ phí"


def test_a_draft_is_reported_as_not_reviewed_and_not_loaded_from_drafts(tmp_path: Path) -> None:
    catalogue_dir = tmp_path / "procedures"
    path = write_draft(record(), catalogue_dir / "drafts")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(catalogue_dir / "drafts")
    assert info.value.problems == [f"{path}:6: draft: not yet reviewed (imported by motcua import): check "
                                   "every fact, then delete this line and set reviewed: to the date you checked them"]
    # The bot's catalogue skips drafts/: here it has nothing else, so it is empty.
    with pytest.raises(CatalogueError, match="no procedure files"):
        load_catalogue(catalogue_dir)
    # Reviewed: the same file loads, keeping its snapshot.
    text = path.read_text(encoding="utf-8").replace("draft: true\n", "reviewed: 2026-12-01\n")
    (catalogue_dir / "ho-tich").mkdir()
    (catalogue_dir / "ho-tich" / path.name).write_text(text, encoding="utf-8")
    proc = next(iter(load_catalogue(catalogue_dir)))
    assert proc.national is not None and proc.national["code"] == "2.000635"


def test_check_against_a_snapshot_names_each_change(tmp_path: Path) -> None:
    path = write_draft(record(), tmp_path / "ho-tich")
    path.write_text(path.read_text(encoding="utf-8").replace("draft: true\n", "reviewed: 2026-12-01\n"),
                    encoding="utf-8")
    proc = next(iter(load_catalogue(tmp_path)))
    assert differences(proc, record()) == []
    changed = record(fees=[(10000, "")], days=[("Trong ngày", 2)], documents=["Tờ khai", "Ảnh 4x6"],
                     legal=["123/2015/NĐ-CP", "07/2025/NĐ-CP"])
    found = {d.what: d.detail for d in differences(proc, changed)}
    assert found["fee"] == "was 8.000 đồng, now 10.000 đồng"
    assert found["time"] == "was 1 days, now 2 days"
    assert found["documents"] == "1 new or reworded: «Ảnh 4x6»; 1 gone"
    assert found["legal basis"] == "new in the database: 07/2025/NĐ-CP"


def test_check_of_a_hand_written_entry_compares_the_numbers_it_states(catalogue: Catalogue) -> None:
    proc = catalogue.get("trich-luc-ho-tich")
    assert proc is not None and "8.000" in (proc.fee or "")
    same = record(legal=[])
    assert entry_for(catalogue, same) is proc
    assert differences(proc, same) == []
    dearer = {d.what: d.detail for d in differences(proc, record(fees=[(12000, "")], legal=[]))}
    assert dearer["fee"] == "the database has 12.000 đồng, which the file's fee does not state"


def test_an_entry_found_by_name_with_another_code_reports_the_code(catalogue: Catalogue) -> None:
    proc = catalogue.get("trich-luc-ho-tich")
    assert proc is not None
    renumbered = dataclasses.replace(record(), code="2.009999")
    assert entry_for(catalogue, dataclasses.replace(renumbered, name=proc.name)) is proc
    assert differences(proc, renumbered)[0].what == "code"
