"""The procedure catalogue: the bundled files validate; broken files are reported
with file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.errors import CatalogueError

REQUIRED_IDS = {
    "khai-sinh", "ket-hon", "khai-tu", "nhan-cha-me-con", "khai-sinh-nhan-cha-me-con",
    "dang-ky-lai-khai-sinh", "dang-ky-lai-ket-hon", "dang-ky-lai-khai-tu",
    "khai-sinh-nguoi-da-co-giay-to", "cai-chinh-ho-tich", "xac-nhan-tinh-trang-hon-nhan",
    "giam-ho", "cham-dut-giam-ho", "trich-luc-ho-tich", "khai-sinh-nuoc-ngoai",
    "ket-hon-nuoc-ngoai", "lien-thong-khai-sinh", "lien-thong-khai-tu", "chung-thuc-ban-sao",
    "chung-thuc-chu-ky", "chung-thuc-hop-dong", "chung-thuc-di-chuc",
    "chung-thuc-phan-chia-di-san", "nuoi-con-nuoi", "tro-cap-xa-hoi", "ho-tro-mai-tang",
}

GOOD = """\
id: {id}
name: Đăng ký khai sinh
field: Hộ tịch
aliases:
  - làm giấy khai sinh
documents:
  - Tờ khai đăng ký khai sinh.
time: Trong ngày.
where: UBND xã.
source:
  - Luật Hộ tịch 2014.
reviewed: 2026-11-29
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / "ho-tich" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(folder)
    return info.value.problems


def test_bundled_catalogue_has_every_required_procedure(catalogue: Catalogue) -> None:
    assert REQUIRED_IDS <= set(catalogue.procedures)
    referrals = [p for p in catalogue if p.is_referral]
    assert len(referrals) >= 15


def test_every_entry_says_where_its_facts_come_from(catalogue: Catalogue) -> None:
    for proc in catalogue:
        assert proc.source and proc.reviewed, proc.id
        assert proc.aliases, proc.id
        if not proc.is_referral:
            assert proc.documents and proc.time and proc.where, proc.id


def test_fields_are_listed_busiest_first(catalogue: Catalogue) -> None:
    assert catalogue.fields()[0] == "Hộ tịch"
    assert all(not p.is_referral for f in catalogue.fields() for p in catalogue.in_field(f))


def test_a_valid_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh"))
    catalogue = load_catalogue(tmp_path)
    proc = catalogue.get("khai-sinh")
    assert proc is not None and proc.fee is None and proc.documents == ("Tờ khai đăng ký khai sinh.",)


def test_missing_required_key_is_named_with_file(tmp_path: Path) -> None:
    path = write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh").replace("time: Trong ngày.\n", ""))
    assert problems_of(tmp_path) == [f"{path}:1: time: missing required key"]


def test_unknown_key_and_wrong_type_give_their_lines(tmp_path: Path) -> None:
    text = GOOD.format(id="khai-sinh").replace("time: Trong ngày.", "time: Trong ngày.\nfees: 5000")
    text = text.replace("aliases:\n  - làm giấy khai sinh", "aliases: làm giấy khai sinh")
    path = write(tmp_path, "khai-sinh", text)
    problems = problems_of(tmp_path)
    assert f"{path}:4: aliases: expected a list (one '- ' item per line)" in problems
    assert f"{path}:8: fees: unknown key" in problems


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh") + "notes: [unclosed\n")
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{path}:") and "YAML syntax error" in problem


def test_item_with_a_colon_is_explained(tmp_path: Path) -> None:
    text = GOOD.format(id="khai-sinh").replace("  - Tờ khai đăng ký khai sinh.", "  - Trẻ em: giấy chứng sinh")
    path = write(tmp_path, "khai-sinh", text)
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{path}:6: documents: item 1") and "quotes" in problem


def test_duplicate_ids_and_mismatched_file_names(tmp_path: Path) -> None:
    write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh"))
    other = tmp_path / "chung-thuc" / "khai-sinh.yaml"
    other.parent.mkdir()
    other.write_text(GOOD.format(id="khai-sinh"), encoding="utf-8")
    write(tmp_path, "ket-hon", GOOD.format(id="khai-tu"))
    problems = problems_of(tmp_path)
    assert any("duplicate id 'khai-sinh'" in p for p in problems)
    assert any("'khai-tu' differs from the file name 'ket-hon'" in p for p in problems)


def test_duplicate_key_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh") + "time: Hai ngày.\n")
    assert any(p.startswith(f"{path}:13: time: duplicate key") for p in problems_of(tmp_path))


def test_referral_needs_no_documents_or_time(tmp_path: Path) -> None:
    write(
        tmp_path,
        "ho-chieu",
        """\
        id: ho-chieu
        kind: referral
        name: Cấp hộ chiếu
        field: Xuất nhập cảnh
        aliases: [làm hộ chiếu]
        where: Công an tỉnh.
        source: [Luật Xuất nhập cảnh]
        reviewed: 2026-11-29
        """,
    )
    proc = load_catalogue(tmp_path).get("ho-chieu")
    assert proc is not None and proc.is_referral


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    assert "no procedure files" in problems_of(tmp_path)[0]
    assert "not found" in problems_of(tmp_path / "nowhere")[0]


def test_combines_must_name_existing_entries(tmp_path: Path) -> None:
    text = GOOD.format(id="lien-thong").replace("field: Hộ tịch", "field: Hộ tịch\ncombines: [khai-sinh, the-bhyt]")
    path = write(tmp_path, "lien-thong", text)
    write(tmp_path, "khai-sinh", GOOD.format(id="khai-sinh"))
    assert problems_of(tmp_path) == [f"{path}:4: combines: unknown id 'the-bhyt'"]


def test_combined_procedures_name_what_they_combine(catalogue: Catalogue) -> None:
    proc = catalogue.get("lien-thong-khai-sinh")
    assert proc is not None and {"khai-sinh", "dang-ky-thuong-tru", "the-bhyt"} <= set(proc.combines)


FAMILY = """\
id: mat-giay
kind: family
name: Mất giấy khai sinh
field: Hộ tịch
aliases:
  - mất giấy khai sinh
question: Sổ hộ tịch ở xã còn lưu không?
default: {default}
members:
  - id: a
    when: Sổ còn lưu
  - id: {second}
    when: Sổ đã mất
source:
  - Nghị định 123/2015/NĐ-CP
reviewed: 2026-12-01
"""


def test_a_family_names_its_default_members_and_question(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a"))
    write(tmp_path, "b", GOOD.format(id="b"))
    write(tmp_path, "mat-giay", FAMILY.format(default="a", second="b"))
    catalogue = load_catalogue(tmp_path)
    family = catalogue.families["mat-giay"]
    assert family.question == "Sổ hộ tịch ở xã còn lưu không?"
    assert [m.id for m in family.others] == ["b"]
    assert catalogue.families_of("b") == [family]
    assert "mat-giay" not in catalogue.procedures


def test_family_members_and_default_must_be_procedures_of_the_catalogue(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a"))
    write(tmp_path, "mat-giay", FAMILY.format(default="c", second="b"))
    problems = problems_of(tmp_path)
    assert any("mat-giay.yaml:9: members: unknown id 'b'" in p for p in problems)
    assert any("mat-giay.yaml:8: default: 'c' is not a member" in p for p in problems)


def test_family_members_need_an_id_and_a_situation(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a"))
    write(tmp_path, "mat-giay", FAMILY.format(default="a", second="b").replace("    when: Sổ đã mất\n", ""))
    assert any("members: item 2: expected the keys id and when (and optionally said, answers," in p for p in problems_of(tmp_path))


def test_bundled_families_point_at_procedures_of_the_desk(catalogue: Catalogue) -> None:
    assert catalogue.families
    for family in catalogue.families.values():
        assert family.default in catalogue.procedures
        assert all(not catalogue.procedures[m.id].is_referral for m in family.members)


def test_a_bare_number_is_refused_where_text_is_expected(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a") + "fee: 8000\n")
    assert any(
        p.endswith('a.yaml:13: fee: 8000 is a bare number: write it as text in quotes, with its unit (e.g. "8.000 đồng")')
        for p in problems_of(tmp_path)
    )


def test_an_over_indented_alias_is_not_merged_into_the_one_above(tmp_path: Path) -> None:
    text = GOOD.format(id="a").replace("  - làm giấy khai sinh\n", "  - làm giấy khai sinh\n    - lam gks\n")
    write(tmp_path, "a", text)
    assert any("a.yaml:4: aliases: item 1 runs on over several lines" in p for p in problems_of(tmp_path))


def test_a_tab_in_the_indentation_is_named(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a").replace("  - làm giấy khai sinh", "\t- làm giấy khai sinh"))
    problems = problems_of(tmp_path)
    assert any("a.yaml:5: a tab character in the indentation; indent with spaces" in p for p in problems)


def test_a_broken_file_does_not_make_its_references_look_unknown(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a").replace("name: Đăng ký khai sinh\n", ""))
    write(tmp_path, "b", GOOD.format(id="b") + "combines:\n  - a\n")
    problems = problems_of(tmp_path)
    assert len(problems) == 1 and "a.yaml:1: name: missing required key" in problems[0]


def test_a_family_member_may_list_phrases_that_answer_the_question(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a"))
    write(tmp_path, "b", GOOD.format(id="b"))
    text = FAMILY.format(default="a", second="b").replace(
        "    when: Sổ đã mất\n", "    when: Sổ đã mất\n    said:\n      - sổ cũng mất\n"
    )
    write(tmp_path, "mat-giay", text)
    family = load_catalogue(tmp_path).families["mat-giay"]
    assert family.members[1].said == ("sổ cũng mất",)
    write(tmp_path, "mat-giay", text.replace("      - sổ cũng mất\n", "      sổ cũng mất\n"))
    assert any("members: item 2: said: expected a list of phrases" in p for p in problems_of(tmp_path))


def test_a_family_member_may_say_the_facts_that_pick_it(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path, name, GOOD.format(id=name))
    text = FAMILY.format(default="a", second="b").replace(
        "    when: Sổ đã mất\n", '    when: Sổ đã mất\n    age_over: "60 ngày"\n    foreign_of: [a]\n'
    )
    write(tmp_path, "mat-giay", text)
    member = load_catalogue(tmp_path).families["mat-giay"].members[1]
    assert member.age_over == "60 ngày" and member.age_days == 60
    assert member.replaces("foreign") == ("a",) and member.replaces("border") == ()


def test_a_bad_age_over_is_named_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "a", GOOD.format(id="a"))
    write(tmp_path, "b", GOOD.format(id="b"))
    text = FAMILY.format(default="a", second="b").replace("    when: Sổ đã mất\n", "    when: Sổ đã mất\n    age_over: hai tháng\n")
    path = write(tmp_path, "mat-giay", text)
    assert problems_of(tmp_path) == [
        f'{path}:14: members: b: age_over: expected a number and a unit in quotes, e.g. "60 ngày", "18 tuổi"'
    ]


def test_a_fact_key_naming_an_unknown_or_doubly_replaced_id_is_named(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write(tmp_path, name, GOOD.format(id=name))
    text = FAMILY.format(default="a", second="b").replace("    when: Sổ đã mất\n", "    when: Sổ đã mất\n    foreign_of: [a, zz]\n")
    path = write(tmp_path, "mat-giay", text)
    assert problems_of(tmp_path) == [f"{path}:14: members: b: foreign_of: unknown id 'zz'"]
    write(tmp_path, "mat-giay", text.replace("[a, zz]", "[a]"))
    other = FAMILY.replace("id: mat-giay", "id: khac").format(default="a", second="c").replace(
        "    when: Sổ đã mất\n", "    when: Sổ đã mất\n    foreign_of: [a]\n"
    )
    write(tmp_path, "khac", other)
    problems = problems_of(tmp_path)
    assert len(problems) == 1 and "foreign_of: 'a' is already replaced by" in problems[0]
    assert ".yaml:14: members: " in problems[0]
