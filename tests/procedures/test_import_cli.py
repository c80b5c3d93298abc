"""``motcua import``: drafts from files and from a (local, fake) national portal, and
``--check`` against the catalogue, run as a real process."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.fakes.portal import FakePortal, portal_record

ROOT = Path(__file__).resolve().parents[2]


async def motcua(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def portal():
    fake = await FakePortal().start()
    yield fake
    await fake.stop()


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    """A copy of the bundled catalogue that the test may change."""
    target = tmp_path / "procedures"
    shutil.copytree(ROOT / "procedures", target)
    return target


def trich_luc(fee: int = 8000) -> dict:
    return portal_record(
        "2.000635", "cấp bản sao Trích lục hộ tịch, bản sao Giấy khai sinh",
        fees=[(fee, "")], days=[("Trong ngày", 1)], documents=["Tờ khai"], legal=["123/2015/NĐ-CP"],
    )


async def test_import_from_a_file_writes_a_draft_into_drafts(tmp_path: Path, catalogue_copy: Path) -> None:
    source = tmp_path / "record.json"
    source.write_text(json.dumps(trich_luc()), encoding="utf-8")
    code, out, err = await motcua("--catalogue", str(catalogue_copy), "import", str(source), cwd=tmp_path)
    assert code == 0, err
    drafts = list((catalogue_copy / "drafts").glob("*.yaml"))
    assert [d.name for d in drafts] == ["cap-ban-sao-trich-luc-ho-tich-ban-sao-giay-khai-sinh.yaml"]
    assert "draft: true" in drafts[0].read_text(encoding="utf-8")
    # The bot's catalogue still validates: drafts are not loaded.
    code, out, err = await motcua("validate", str(catalogue_copy), cwd=tmp_path)
    assert code == 0, err
    code, out, err = await motcua("validate", str(catalogue_copy / "drafts"), cwd=tmp_path)
    assert code == 1 and "draft: not yet reviewed" in err


async def test_import_by_code_asks_the_portal_as_a_browser(tmp_path: Path, portal: FakePortal) -> None:
    portal.records["2.000635"] = trich_luc()
    code, out, err = await motcua(
        "import", "2.000635", "--portal", portal.url, "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert code == 0, err
    assert len(list((tmp_path / "out").glob("*.yaml"))) == 1
    assert portal.user_agents and all("Mozilla" in ua for ua in portal.user_agents)


async def test_an_unknown_code_or_a_down_portal_is_one_line(tmp_path: Path, portal: FakePortal) -> None:
    code, out, err = await motcua("import", "1.999999", "--portal", portal.url, "--out", str(tmp_path), cwd=tmp_path)
    assert code == 2 and err.strip() == "motcua: 1.999999: the portal has no procedure with this code"
    code, out, err = await motcua("import", "1.999999", "--portal", "http://127.0.0.1:9", cwd=tmp_path)
    assert code == 2 and "the portal did not answer" in err and "Traceback" not in err
    code, out, err = await motcua("import", "khai-sinh.json", cwd=tmp_path)
    assert code == 2 and "neither a JSON file nor a national code" in err


async def test_check_lists_a_changed_fee_and_exits_1(tmp_path: Path, portal: FakePortal) -> None:
    portal.records["2.000635"] = trich_luc()
    code, out, err = await motcua("import", "--check", "2.000635", "--portal", portal.url, cwd=ROOT)
    assert code == 0, out + err
    assert "2.000635 (trich-luc-ho-tich): no change" in out
    portal.records["2.000635"] = trich_luc(fee=10000)
    code, out, err = await motcua("import", "--check", "2.000635", "--portal", portal.url, cwd=ROOT)
    assert code == 1
    assert "2.000635 (trich-luc-ho-tich): fee: the database has 10.000 đồng" in out
    assert "1 of 1 record(s) differ" in out
