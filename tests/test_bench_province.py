"""The province benchmark (bench/bench_province.py) at a tiny size, so CI proves it runs
end to end: PostgreSQL, the fakes, a provincial sync, residents through the webhooks of
`motcua run --workers 2`, a worker SIGKILLed, the exactly-once checks; and the checks'
counting on recorded messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.province_checks import replies
from bench.province_data import Commune
from bench.province_load import Load, Received, Sent
from bench.province_residents import Resident, Step
from tests.pgserver import find_bindir

ROOT = Path(__file__).resolve().parent.parent


def _received(chats: dict[str, list[tuple[float, str]]]) -> Received:
    received = Received()
    for chat, got in chats.items():
        received.by_chat[chat] = list(got)
    return received


def _two_residents() -> tuple[Load, dict[int, Resident]]:
    commune = Commune("xa-001", "Tân Hòa", "000.00.01.H56")
    steps = (Step("/start xa-001", "deeplink"), Step("lam giay khai sinh", "question"))
    people = {i: Resident(i, "telegram", str(100 + i), commune, steps) for i in (0, 1)}
    load = Load(sent=[Sent(i, step, 0.0, step) for i in (0, 1) for step in (0, 1)])
    return load, people


def test_replies_counts_a_lost_reply_a_duplicate_and_a_copy_sent_before_a_kill() -> None:
    load, people = _two_residents()
    exact = _received({"100": [(1.0, "chào"), (2.0, "khai sinh")], "101": [(1.0, "chào"), (2.0, "khai sinh")]})
    check = replies([load], people, exact, {})
    assert (check.expected, check.once, check.missing, check.extra, check.passed) == (4, 4, 0, 0, True)

    lost = _received({"100": [(1.0, "chào")], "101": [(1.0, "chào"), (2.0, "khai sinh")]})
    check = replies([load], people, lost, {})
    assert (check.missing, check.extra, check.lost) == (1, 0, True)

    # Chat 100's first reply arrived 0.2 s before the kill at 1.2 and again after it.
    copied = _received({"100": [(1.0, "chào"), (5.0, "chào"), (6.0, "khai sinh")],
                        "101": [(1.0, "chào"), (2.0, "khai sinh"), (3.0, "khai sinh")]})
    check = replies([load], people, copied, {}, kills=[1.2])
    assert (check.missing, check.extra, check.at_kill, check.passed) == (0, 2, 1, False)
    assert check.lost  # chat 101's duplicate is not explained by the kill
    check = replies([load], people, copied, {"101": 2}, kills=[1.2])
    assert (check.extra, check.at_kill, check.lost) == (1, 1, False)


@pytest.mark.skipif(find_bindir() is None, reason="no PostgreSQL server binaries (apt-get install postgresql)")
def test_the_province_bench_runs_at_a_tiny_size_with_a_worker_killed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_province.py"), "--communes", "3", "--dossiers", "2000",
         "--residents", "50", "--baseline-residents", "0", "--messages", "3", "--workers", "2",
         "--changed", "0.3", "--short-leases", "5", "--settle", "30"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "first provincial sync:" in out and "2 workers, one killed" in out
    assert re.search(r"worker \d+ SIGKILLed after \d+ messages; replaced after", out), out
    for name in ("replies, one per update", "hand-overs posted to the staff group",
                 "staff answers delivered to the resident", "follow notifications after the second sync"):
        line = next(line for line in out.splitlines() if name in line)
        assert " 0 missing" in line and " 0 unexpected" in line, line
    assert re.search(r"messages/s +[\d.]+", out), out
