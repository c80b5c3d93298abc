"""The loss and duplicate checks of ``bench/bench_province.py``: replies per update,
hand-overs posted to the staff groups, staff answers and follow notifications, each
counted at the fake messenger servers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.province_load import Load, Received
from bench.province_residents import Resident

_CASE = re.compile(r"#(\d+)")
STAFF_ANSWER = "💬 Cán bộ Bộ phận Một cửa trả lời (yêu cầu #{n})"
HANDOVER_POST = "🔔 Yêu cầu #{n} "


@dataclass
class Check:
    """One exactly-once check: how many were due, arrived once, never, or more than once
    (``extra``: the messages beyond the first), and messages nobody was due (``spurious``)."""

    name: str
    expected: int = 0
    once: int = 0
    missing: int = 0
    extra: int = 0
    spurious: int = 0
    #: Of ``extra``: copies of a message first sent in the moment before a worker was
    #: killed (sent, but killed before it recorded the send: sent again after the lease).
    at_kill: int = 0

    def count(self, got: int) -> None:
        """One item that was due, which arrived ``got`` times."""
        self.expected += 1
        if got == 0:
            self.missing += 1
        else:
            self.once += got == 1
            self.extra += got - 1

    @property
    def passed(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.spurious == 0

    @property
    def lost(self) -> bool:
        """Something due never arrived, or a duplicate the kill does not explain."""
        return self.missing > 0 or self.extra > self.at_kill or self.spurious > 0

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        kill = f" ({self.at_kill:,} of them sent just before the kill)" if self.at_kill else ""
        return (
            f"{verdict}  {self.name}: {self.expected:,} due, {self.once:,} exactly once, "
            f"{self.missing:,} missing, {self.extra:,} duplicated{kill}, {self.spurious:,} unexpected"
        )


#: A copy counts as sent "just before the kill" when its first arrived this many seconds
#: or less before the SIGKILL.
KILL_WINDOW = 1.0


def replies(loads: Iterable[Load], residents: Mapping[int, Resident], received: Received,
            until: Mapping[str, int], kills: Sequence[float] = ()) -> Check:
    """Every update got exactly one reply. A resident sends their next message only once
    the previous one was answered, and a chat's replies come in order, so a chat's first
    ``until[chat]`` messages are its updates' replies, one each: fewer is a loss, more a
    duplicate. A duplicate that repeats a message the chat received in the second before
    a kill (``kills``: perf_counter times) is also counted in ``at_kill``."""
    check = Check("replies, one per update")
    steps: Counter[int] = Counter()
    for load in loads:
        for sent in load.sent:
            steps[sent.resident] += 1
    for index, due in steps.items():
        chat = residents[index].user_id
        got = received.by_chat.get(chat, [])[: until.get(chat, received.count(chat))]
        excess = len(got) - due
        check.expected += due
        if excess < 0:
            check.missing -= excess
            check.once += due + excess
            continue
        copies = min(excess, _kill_copies(got, kills))
        check.once += due - excess
        check.extra += excess
        check.at_kill += copies
    return check


def _kill_copies(got: Sequence[tuple[float, str]], kills: Sequence[float]) -> int:
    """How many of ``got`` arrived after a kill repeating one that arrived in the second
    before it."""
    copies = 0
    for j, (at, text) in enumerate(got):
        copies += any(
            kill < at and any(kill - KILL_WINDOW <= first <= kill and t == text for first, t in got[:j])
            for kill in kills
        )
    return copies


def _texts(received: Received, chat: str, start: int = 0) -> list[str]:
    return [text for _, text in received.by_chat.get(chat, [])[start:]]


def handover_cases(residents: Sequence[Resident], received: Received) -> dict[int, int]:
    """The case number each hand-over resident was told (resident index -> number), read
    from the reply to their last message."""
    cases = {}
    for r in residents:
        if not r.hands_over:
            continue
        for text in reversed(_texts(received, r.user_id)):
            found = _CASE.search(text)
            if found and "cán bộ" in text:
                cases[r.index] = int(found.group(1))
                break
    return cases


def handovers(residents: Sequence[Resident], received: Received, cases: Mapping[int, int],
              staff_chat: Mapping[str, str]) -> Check:
    """Each hand-over posted exactly once to its commune's staff group."""
    check = Check("hand-overs posted to the staff group")
    posts: Counter[tuple[str, int]] = Counter()
    for chat in set(staff_chat.values()):
        for text in _texts(received, chat):
            if text.startswith("🔔 Yêu cầu #"):
                posts[(chat, int(_CASE.search(text).group(1)))] += 1  # type: ignore[union-attr]
    due = set()
    for r in residents:
        if r.hands_over:
            key = (staff_chat[r.commune.id], cases.get(r.index, -1))
            due.add(key)
            check.count(posts.get(key, 0))
    check.spurious = sum(n for key, n in posts.items() if key not in due)
    return check


def staff_answers(residents: Sequence[Resident], received: Received, cases: Mapping[int, int],
                  staff_chat: Mapping[str, str], since: Mapping[str, int]) -> tuple[Check, Check]:
    """Each staff answer delivered exactly once to the resident, and its "✅ Đã gửi"
    exactly once in the staff group (messages after ``since[chat]``)."""
    delivered = Check("staff answers delivered to the resident")
    confirmed = Check("staff answers confirmed in the staff group")
    for r in residents:
        number = cases.get(r.index)
        if number is None:
            continue
        wanted = STAFF_ANSWER.format(n=number)
        delivered.count(sum(t.startswith(wanted) for t in _texts(received, r.user_id, since.get(r.user_id, 0))))
        group = staff_chat[r.commune.id]
        confirmed.count(sum(
            t.startswith("✅") and f"#{number} " in t for t in _texts(received, group, since.get(group, 0))
        ))
    return delivered, confirmed


def notifications(residents: Sequence[Resident], received: Received, changed_codes: set[str],
                  since: Mapping[str, int]) -> Check:
    """Each follower of a dossier whose status the second sync changed was notified
    exactly once; followers of unchanged dossiers, never."""
    check = Check("follow notifications after the second sync")
    for r in residents:
        texts = _texts(received, r.user_id, since.get(r.user_id, 0))
        for code in r.follows:
            got = sum(t.startswith(f"Hồ sơ {code} vừa chuyển") for t in texts)
            if code in changed_codes:
                check.count(got)
            else:
                check.spurious += got
    return check


def unexpected(residents: Sequence[Resident], received: Received, since: Mapping[str, int]) -> int:
    """Messages to residents after ``since`` that are neither a notification nor a staff
    answer (a late or repeated reply)."""
    count = 0
    for r in residents:
        for text in _texts(received, r.user_id, since.get(r.user_id, 0)):
            if not (" vừa chuyển sang trạng thái" in text or text.startswith("💬 Cán bộ")):
                count += 1
    return count
