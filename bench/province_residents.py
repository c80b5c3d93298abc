"""What the simulated residents of a province say, for ``bench/bench_province.py``.

Each :class:`Resident` is one chat (Telegram or Zalo) of one commune, with a short
conversation as people write it: a deep link ``/start <commune>`` (or ``/xa <commune>``
typed on Zalo, which has no deep links); then procedure questions without diacritics or
in shorthand, follow-ups on the topic, status look-ups by a real code of their commune
(mostly its tail, as on the receipt; sometimes the whole code), sometimes a
follow (``theo dõi <code>``) and, for a few, a hand-over to a person as the last message
(later messages would be added to the open hand-over).

Every message of a script gets exactly one reply from the bot (the bench checks it), so
replies can be counted per update. Everything is a pure function of the seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from bench.province_data import Commune, Province

#: Questions about procedures, written the way residents type them.
QUESTIONS = (
    "lam giay khai sinh can gi",
    "đk kết hôn cần giấy tờ gì",
    "làm giấy chứng tử cho bố tôi cần gì",
    "xin giấy xác nhận độc thân",
    "chứng thực bản sao căn cước mất bao nhiêu tiền",
    "photo công chứng ở xã đc ko",
    "đăng ký khai tử mất mấy ngày",
    "lam lai giay khai sinh bi mat",
    "trích lục khai sinh bản sao",
    "chung thuc chu ky",
    "đăng ký giám hộ cho cháu",
    "xin trợ cấp cho người khuyết tật",
    "hưu trí xã hội 75 tuổi có được không",
    "dang ky ho kinh doanh ca the",
    "xin giấy phép xây nhà ở nông thôn",
    "đăng ký nghĩa vụ quân sự lần đầu",
    "mai táng phí cho người có công",
    "chứng thực di chúc ở xã được không",
    "thay đổi họ tên cho con",
    "hỗ trợ tiền ăn trưa cho trẻ mẫu giáo",
    "cấp lại sổ đỏ bị mất",
    "nhận cha con cần gì",
    "đăng ký kết hôn với người nước ngoài",
    "giấy xác nhận tình trạng hôn nhân để mua nhà",
)

#: Follow-ups on the topic just answered.
FOLLOW_UPS = (
    "thế còn lệ phí?",
    "mất mấy ngày",
    "nộp ở đâu",
    "có mẫu đơn không",
    "cần mang gì",
    "lệ phí bao nhiêu",
)

#: Ways of asking about a dossier by its code or the code's tail (``{code}``).
STATUS_ASKS = (
    "{code} đến đâu rồi",
    "tra cứu hồ sơ {code}",
    "hồ sơ {code} xong chưa",
)

HANDOVER = "gặp cán bộ"


@dataclass(frozen=True)
class Step:
    """One message of a conversation; ``kind`` is ``deeplink``, ``question``,
    ``followup``, ``status``, ``follow`` or ``handover``; ``code`` the dossier followed."""

    text: str
    kind: str
    code: str | None = None


@dataclass(frozen=True)
class Resident:
    """One simulated resident: their chat on one channel, commune and conversation."""

    index: int
    channel: str
    user_id: str
    commune: Commune
    steps: tuple[Step, ...]

    @property
    def follows(self) -> list[str]:
        """The codes this resident follows."""
        return [s.code for s in self.steps if s.kind == "follow" and s.code]

    @property
    def hands_over(self) -> bool:
        """Whether the conversation ends with a hand-over to a person."""
        return bool(self.steps) and self.steps[-1].kind == "handover"


def user_id(channel: str, index: int) -> str:
    """The chat (and user) id of resident ``index`` on ``channel``."""
    return str(500_000_000 + index) if channel == "telegram" else f"zr{index:07d}"


def _dossier_of(province: Province, commune_index: int, rng: random.Random) -> int:
    """A random dossier (export row index) of the commune at ``commune_index``."""
    n = len(province.communes)
    per_commune = (province.dossiers - commune_index + n - 1) // n
    return commune_index + n * rng.randrange(max(per_commune, 1))


def make_residents(
    province: Province,
    count: int,
    messages: int,
    *,
    seed: int = 1,
    first: int = 0,
    changed: Sequence[int] = (),
    follow_share: float = 0.2,
    handover_share: float = 0.05,
) -> list[Resident]:
    """Residents ``first`` .. ``first + count - 1``, each with ``messages`` messages (at
    least 2). ``changed`` lists export rows whose status the second sync changes: most
    follows pick one of their commune's, so that notifications are due."""
    n = len(province.communes)
    changed_by_commune: dict[int, list[int]] = {}
    for row in changed:
        changed_by_commune.setdefault(row % n, []).append(row)
    out = []
    for index in range(first, first + count):
        rng = random.Random(seed * 1_000_003 + index)
        channel = "telegram" if index % 2 == 0 else "zalo"
        c = index % n
        commune = province.communes[c]
        steps: list[Step] = []
        # Telegram: the commune's deep link or QR code; Zalo has none, the resident types it.
        steps.append(Step(f"/start {commune.id}" if channel == "telegram" else f"/xa {commune.id}", "deeplink"))
        follows = rng.random() < follow_share
        hands_over = rng.random() < handover_share
        body = max(messages, 2) - 1 - follows - hands_over
        topic = False
        for _ in range(max(body, 0)):
            r = rng.random()
            if topic and r < 0.35:
                steps.append(Step(rng.choice(FOLLOW_UPS), "followup"))
            elif r < 0.75:
                steps.append(Step(rng.choice(QUESTIONS), "question"))
                topic = True
            else:
                code = province.code(_dossier_of(province, c, rng))
                if rng.random() < 0.7:  # the tail printed on the receipt, or the whole code
                    code = code.split("-", 1)[1]
                steps.append(Step(rng.choice(STATUS_ASKS).format(code=code), "status"))
                topic = False
        if follows:
            pool = changed_by_commune.get(c)
            row = rng.choice(pool) if pool and rng.random() < 0.8 else _dossier_of(province, c, rng)
            code = province.code(row)
            steps.append(Step(f"theo dõi {code}", "follow", code))
        if hands_over:
            steps.append(Step(HANDOVER, "handover"))
        out.append(Resident(index, channel, user_id(channel, index), commune, tuple(steps)))
    return out
