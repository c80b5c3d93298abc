"""A provincial administrator edits the base catalogue's facts of a procedure on the web:
only the changed lines of its file change, the bot answers from it at once, the edit is
audited; bad values are refused in Vietnamese with the file unchanged; a commune's staff
cannot edit it."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

import pytest

from bot.backoffice import facts
from bot.backoffice.accounts import PROVINCE
from bot.errors import CatalogueError

from .conftest import csrf_of, login
from .test_communes import ADMIN, PASSWORD, STAFF_A, STAFF_B, A, B, browser, open_province, text_of

PROC = "chuyen-noi-huong-tro-cap-xa-hoi"
FILE = f"bao-tro-xa-hoi/{PROC}.yaml"
NEW_FEE = "Lệ phí 15.000 đồng/hồ sơ (mức HĐND tỉnh, năm 2027)."
NEW_DOCUMENT = "Bản sao Căn cước của người đề nghị (nếu nộp thay)."


def changed_lines(before: str, after: str) -> list[str]:
    """The lines removed (-) and added (+) between two texts."""
    return [
        line.rstrip("\n") for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


async def form_of(http, url: str) -> dict[str, str]:
    """The edit form's fields as the page fills them."""
    import html
    import re

    status, page = await text_of(http, url)
    assert status == 200, page
    values = {"csrf": csrf_of(page), "version": re.search(r'name="version" value="([^"]+)"', page).group(1)}
    for key in ("fee", "time", "reviewed"):
        values[key] = html.unescape(re.search(rf'name="{key}" value="([^"]*)"', page).group(1))
    for key in ("documents", "notes"):
        values[key] = html.unescape(re.search(rf'name="{key}"[^>]*>([^<]*)</textarea>', page).group(1))
    return values


async def test_an_edit_changes_exactly_the_edited_lines_and_is_answered_at_once(tmp_path: Path) -> None:
    async with open_province(tmp_path) as p, browser() as http:
        path = p.catalogue / FILE
        before = path.read_text(encoding="utf-8")
        await login(http, p.url, ADMIN, PASSWORD)
        status, listing = await text_of(http, f"{p.url}/procedures")
        assert f'href="/catalogue/{PROC}"' in listing
        form = await form_of(http, f"{p.url}/catalogue/{PROC}")
        assert form["fee"] == "Không thu phí, lệ phí." and form["reviewed"] == "01/12/2026"
        documents = form["documents"].split("\n")
        form.update(fee=NEW_FEE, documents="\n".join([*documents, NEW_DOCUMENT]), reviewed="15/11/2026")
        async with http.post(f"{p.url}/catalogue/{PROC}", data=form) as r:
            assert r.status == 200 and str(r.url).endswith(f"/catalogue/{PROC}?ok=edited")
            page = await r.text()
        assert "Đã lưu thông tin thủ tục" in page and NEW_FEE in page
        after = path.read_text(encoding="utf-8")
        last_document = documents[-1]
        assert changed_lines(before, after) == [
            f"+  - {NEW_DOCUMENT}",
            '-fee: "Không thu phí, lệ phí."', f'+fee: "{NEW_FEE}"',
            "-reviewed: 2026-12-01", "+reviewed: 2026-11-15",
        ], after
        assert f"  - {last_document}\n  - {NEW_DOCUMENT}\n" in after
        # The running bot answers from the edited file (the catalogue was reloaded).
        served = p.bo.app.catalogue.get(PROC)
        assert served.fee == NEW_FEE and served.documents[-1] == NEW_DOCUMENT
        # Sending the same form again changes nothing (the file is left alone).
        again = await form_of(http, f"{p.url}/catalogue/{PROC}")
        async with http.post(f"{p.url}/catalogue/{PROC}", data=again) as r:
            assert str(r.url).endswith("?ok=unchanged")
        assert path.read_text(encoding="utf-8") == after
        entries = [e for e in await p.bo.view(PROVINCE).audit.recent() if e.action == "catalogue.edit"]
        assert [(e.staff, e.target, e.commune) for e in entries] == [(ADMIN, PROC, PROVINCE)]
        assert entries[0].detail == "Giấy tờ cần nộp, Phí, lệ phí, Ngày rà soát"
        assert all(e.action != "catalogue.edit" for e in await p.bo.view(A).audit.recent())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reviewed": "31/02/2026"}, "Ngày rà soát không hợp lệ"),
        ({"reviewed": "01/01/2999"}, "Ngày rà soát không được ở sau hôm nay."),
        ({"time": "   "}, "Thời hạn giải quyết không được để trống."),
        ({"documents": "\n \n"}, "Giấy tờ cần nộp: cần ít nhất một dòng."),
        ({"fee": "x" * 1001}, "Phí, lệ phí: không quá 1000 ký tự."),
        ({"version": "0" * 64}, "vừa được sửa ở nơi khác"),
    ],
)
async def test_a_bad_value_is_refused_in_vietnamese_and_the_file_is_unchanged(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    async with open_province(tmp_path) as p, browser() as http:
        path = p.catalogue / FILE
        before = path.read_bytes()
        await login(http, p.url, ADMIN, PASSWORD)
        form = await form_of(http, f"{p.url}/catalogue/{PROC}")
        form.update({"fee": NEW_FEE, **change})
        async with http.post(f"{p.url}/catalogue/{PROC}", data=form) as r:
            page = await r.text()
            assert r.status == 400 and message in page and 'role="alert"' in page
        assert path.read_bytes() == before
        assert p.bo.app.catalogue.get(PROC).fee == "Không thu phí, lệ phí."
        assert all(e.action != "catalogue.edit" for e in await p.bo.view(PROVINCE).audit.recent())


async def test_a_communes_staff_cannot_edit_the_base_catalogue(tmp_path: Path) -> None:
    async with open_province(tmp_path) as p, browser() as http:
        path = p.catalogue / FILE
        before = path.read_bytes()
        r = await login(http, p.url, STAFF_A, PASSWORD)
        token = csrf_of(await r.text())
        status, listing = await text_of(http, f"{p.url}/procedures")
        assert status == 200 and "/catalogue/" not in listing
        status, page = await text_of(http, f"{p.url}/catalogue/{PROC}")
        assert status == 403 and "cán bộ quản trị của tỉnh" in page
        forged = {"csrf": token, "fee": NEW_FEE, "time": "1 ngày", "documents": "Đơn", "reviewed": "01/12/2026"}
        async with http.post(f"{p.url}/catalogue/{PROC}", data=forged) as r:
            assert r.status == 403
        # Nor add an alias to it from the missed questions.
        status, page = await text_of(http, f"{p.url}/missed")
        assert status == 200 and "hãy gửi những câu này cho cán bộ quản trị của tỉnh" in page
        async with http.post(f"{p.url}/missed/alias", data={"csrf": token, "procedure": PROC, "text": "chuyển trợ cấp"}) as r:
            assert r.status == 403
        assert path.read_bytes() == before


def test_a_catalogue_that_does_not_validate_after_the_edit_is_restored(tmp_path: Path) -> None:
    import shutil

    from .conftest import ROOT

    folder = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", folder, ignore=shutil.ignore_patterns(".cache"))
    path = folder / FILE
    before = path.read_bytes()
    current, version = facts.read_facts(path)
    wanted = facts.Facts(current.documents, current.time, NEW_FEE, current.notes, current.reviewed)

    def broken(directory: Path):
        raise CatalogueError([f"{path}:30: fee: expected text"])

    with pytest.raises(facts.FactsError, match="tệp đã được giữ nguyên .*fee: expected text"):
        facts.edit_facts(path, folder, PROC, wanted, expected=version, validate=broken)
    assert path.read_bytes() == before


def test_notes_added_to_a_file_without_them_and_a_fee_removed(tmp_path: Path) -> None:
    path = tmp_path / "thu-tuc.yaml"
    path.write_text(
        "# Rà soát theo Nghị định 2026\nid: thu-tuc\nname: Thủ tục thử\nfield: Thử\naliases:\n  - thử\n"
        "documents:\n  - Đơn đề nghị  # mẫu số 1\n  - 'Bản sao giấy tờ'\ntime: 3 ngày làm việc\n"
        "fee: Không thu phí.\nwhere: UBND xã\nlegal_basis:\n  - Luật Thử\nsource:\n  - Bộ Thử\n"
        "reviewed: 2026-01-02\n",
        encoding="utf-8",
    )
    before = path.read_text(encoding="utf-8")
    current, _ = facts.read_facts(path)
    wanted = facts.Facts(
        (current.documents[0], "Bản sao giấy tờ có chứng thực"), current.time, "", ("Mang theo bản chính để đối chiếu.",),
        dt.date(2026, 11, 1),
    )
    text, keys = facts.rewritten(before, wanted, path)
    assert keys == ["documents", "fee", "notes", "reviewed"]
    assert changed_lines(before, text) == [
        "-  - 'Bản sao giấy tờ'", "+  - 'Bản sao giấy tờ có chứng thực'",
        "-fee: Không thu phí.",
        "+notes:", "+  - Mang theo bản chính để đối chiếu.",
        "-reviewed: 2026-01-02", "+reviewed: 2026-11-01",
    ]
    assert "  - Đơn đề nghị  # mẫu số 1\n" in text and text.startswith("# Rà soát theo Nghị định 2026\n")


async def test_a_communes_staff_edit_their_local_facts_in_its_overlay_never_the_base(tmp_path: Path) -> None:
    overlay = tmp_path / "binh-minh"
    overlay.mkdir()
    async with open_province(tmp_path, overlay=overlay) as p, browser() as http:
        base_file = p.catalogue / FILE
        base_before = base_file.read_bytes()
        await login(http, p.url, STAFF_B, PASSWORD)
        status, listing = await text_of(http, f"{p.url}/procedures")
        assert f'href="/overlay/{PROC}"' in listing and "/catalogue/" not in listing
        form = await form_of(http, f"{p.url}/overlay/{PROC}")
        assert form["fee"] == "Không thu phí, lệ phí."
        local_fee = "Lệ phí 5.000 đồng/hồ sơ (mức riêng của xã Bình Minh)."
        form["fee"] = local_fee
        async with http.post(f"{p.url}/overlay/{PROC}", data=form) as r:
            assert r.status == 200 and str(r.url).endswith(f"/overlay/{PROC}?ok=edited")
            assert "Xã đang có thông tin riêng: Phí, lệ phí." in await r.text()
        assert (overlay / f"{PROC}.yaml").read_text(encoding="utf-8") == f'id: {PROC}\nfee: {local_fee}\n'
        assert base_file.read_bytes() == base_before
        # B's residents get B's fee at once; A's and the base keep theirs.
        tenants = p.bo.app.router.tenants
        assert tenants[B].engine.catalogue.get(PROC).fee == local_fee
        assert tenants[A].engine.catalogue.get(PROC).fee == "Không thu phí, lệ phí."
        # Back to the base's value: the local file has nothing left and is removed.
        form = await form_of(http, f"{p.url}/overlay/{PROC}")
        form["fee"] = "Không thu phí, lệ phí."
        async with http.post(f"{p.url}/overlay/{PROC}", data=form) as r:
            assert str(r.url).endswith("?ok=edited")
        assert not (overlay / f"{PROC}.yaml").exists()
        assert tenants[B].engine.catalogue.get(PROC).fee == "Không thu phí, lệ phí."
        # A bad value: refused in Vietnamese, nothing written.
        form = await form_of(http, f"{p.url}/overlay/{PROC}")
        form.update(fee=local_fee, reviewed="hôm qua")
        async with http.post(f"{p.url}/overlay/{PROC}", data=form) as r:
            assert r.status == 400 and "Ngày rà soát không hợp lệ" in await r.text()
        assert not (overlay / f"{PROC}.yaml").exists() and base_file.read_bytes() == base_before
        entries = [e for e in await p.bo.view(B).audit.recent() if e.action == "overlay.edit"]
        assert [(e.staff, e.target, e.commune) for e in entries] == [(STAFF_B, PROC, B)] * 2
    async with open_province(tmp_path / "again", overlay=None) as p, browser() as http:
        # A commune without an overlay has no such page.
        await login(http, p.url, STAFF_A, PASSWORD)
        status, _ = await text_of(http, f"{p.url}/overlay/{PROC}")
        assert status == 404
