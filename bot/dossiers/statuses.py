"""Dossier statuses as the national public-service portal names them.

Exports from one-stop systems spell statuses freely ("DANG XU LY", "đang giải quyết",
"Đã trả kết quả"); :func:`parse_status` maps such text onto :class:`Status`
ignoring case, diacritics and punctuation, and returns None rather than guessing.
"Overdue" is not a status: it is computed from the appointment date
(:func:`is_overdue`).
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from bot.procedures.normalize import fold


class Status(StrEnum):
    """A dossier's status; the value is the stable key stored in the database."""

    NEW = "new"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    PROCESSING = "processing"
    SUPPLEMENT = "supplement"
    FINANCIAL = "financial"
    WITHDRAWN = "withdrawn"
    STOPPED = "stopped"
    DONE = "done"
    RETURNED = "returned"

    @property
    def label(self) -> str:
        """The portal's Vietnamese name of the status, e.g. "Đang xử lý"."""
        return _LABELS[self]


_LABELS: dict[Status, str] = {
    Status.NEW: "Mới đăng ký",
    Status.ACCEPTED: "Được tiếp nhận",
    Status.NOT_ACCEPTED: "Không được tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT: "Yêu cầu bổ sung giấy tờ",
    Status.FINANCIAL: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.DONE: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}

#: Statuses in which the commune still owes the citizen a result by the appointment date.
#: (While papers or fees are awaited from the citizen the clock is theirs, not ours.)
PENDING_ON_US: frozenset[Status] = frozenset({Status.NEW, Status.ACCEPTED, Status.PROCESSING})

#: Statuses after which nothing more will happen to the dossier.
FINAL: frozenset[Status] = frozenset(
    {Status.RETURNED, Status.NOT_ACCEPTED, Status.WITHDRAWN, Status.STOPPED}
)



# Every spelling seen in exports, folded. Exact matches only: a status we do not know is
# reported to the operator, never guessed.
_ALIASES: dict[Status, tuple[str, ...]] = {
    Status.NEW: ("Mới đăng ký", "Đăng ký mới", "Mới", "Chờ tiếp nhận", "Hồ sơ mới"),
    Status.ACCEPTED: ("Được tiếp nhận", "Đã tiếp nhận", "Tiếp nhận", "Đã được tiếp nhận"),
    Status.NOT_ACCEPTED: (
        "Không được tiếp nhận",
        "Không tiếp nhận",
        "Từ chối tiếp nhận",
        "Từ chối",
        "Bị từ chối",
    ),
    Status.PROCESSING: (
        "Đang xử lý",
        "Đang giải quyết",
        "Đang thụ lý",
        "Đang thẩm định",
        "Chờ xử lý",
    ),
    Status.SUPPLEMENT: (
        "Yêu cầu bổ sung giấy tờ",
        "Yêu cầu bổ sung",
        "Yêu cầu bổ sung hồ sơ",
        "Bổ sung hồ sơ",
        "Chờ bổ sung",
        "Chờ bổ sung hồ sơ",
    ),
    Status.FINANCIAL: (
        "Yêu cầu thực hiện nghĩa vụ tài chính",
        "Thực hiện nghĩa vụ tài chính",
        "Nghĩa vụ tài chính",
        "Chờ thực hiện nghĩa vụ tài chính",
        "Chờ nộp phí",
    ),
    Status.WITHDRAWN: (
        "Công dân yêu cầu rút hồ sơ",
        "Yêu cầu rút hồ sơ",
        "Rút hồ sơ",
        "Đã rút hồ sơ",
    ),
    Status.STOPPED: ("Dừng xử lý", "Đã dừng xử lý", "Dừng giải quyết"),
    Status.DONE: (
        "Đã xử lý xong",
        "Xử lý xong",
        "Đã giải quyết xong",
        "Chờ trả kết quả",
        "Có kết quả",
        "Đã có kết quả",
    ),
    Status.RETURNED: ("Đã trả kết quả", "Trả kết quả", "Đã trả", "Đã trả kết quả cho công dân"),
}

_BY_FOLDED: dict[str, Status] = {}
for _status, _names in _ALIASES.items():
    for _name in (*_names, _status.value, _status.value.replace("_", " ")):
        _key = fold(_name)
        _BY_FOLDED[_key] = _status
        _BY_FOLDED[re.sub(r"\bly\b", "li", _key)] = _status  # "xử lí" is a common spelling
del _status, _names, _name, _key


def parse_status(text: str) -> Status | None:
    """The status named by ``text`` (any case, with or without diacritics), or None."""
    return _BY_FOLDED.get(fold(text))


_NEXT_STEPS: dict[Status, str] = {
    Status.NEW: (
        "Hồ sơ đã được đăng ký, đang chờ bộ phận một cửa kiểm tra và tiếp nhận. "
        "Ông/bà chưa cần làm gì thêm."
    ),
    Status.ACCEPTED: (
        "Hồ sơ đã được tiếp nhận và chuyển giải quyết. Ông/bà vui lòng chờ đến ngày hẹn trả."
    ),
    Status.NOT_ACCEPTED: (
        "Hồ sơ không được tiếp nhận. Mời ông/bà xem lý do trong phiếu từ chối "
        "hoặc đến bộ phận một cửa để được hướng dẫn nộp lại."
    ),
    Status.PROCESSING: (
        "Hồ sơ đang được giải quyết. Ông/bà vui lòng chờ đến ngày hẹn trả, chưa cần làm gì thêm."
    ),
    Status.SUPPLEMENT: (
        "Yêu cầu bổ sung giấy tờ: mời ông/bà đến bộ phận một cửa, mang theo giấy biên nhận, "
        "để nhận phiếu hướng dẫn và nộp bổ sung giấy tờ còn thiếu."
    ),
    Status.FINANCIAL: (
        "Yêu cầu thực hiện nghĩa vụ tài chính: mời ông/bà nộp phí, lệ phí hoặc thuế theo "
        "thông báo, rồi mang chứng từ đã nộp đến bộ phận một cửa để hồ sơ được giải quyết tiếp."
    ),
    Status.WITHDRAWN: (
        "Hồ sơ đã được rút theo yêu cầu của công dân. Nếu cần, mời ông/bà đến bộ phận "
        "một cửa nhận lại giấy tờ đã nộp."
    ),
    Status.STOPPED: (
        "Hồ sơ đã dừng xử lý. Mời ông/bà liên hệ bộ phận một cửa để biết lý do và cách giải quyết."
    ),
    Status.DONE: (
        "Đã xử lý xong: mời ông/bà đến bộ phận một cửa nhận kết quả, mang theo giấy biên nhận."
    ),
    Status.RETURNED: "Kết quả đã được trả. Hồ sơ đã hoàn tất.",
}


def next_step(status: Status) -> str:
    """What the citizen should do now, in plain Vietnamese (one or two sentences)."""
    return _NEXT_STEPS[status]


def needs_visit(status: Status) -> bool:
    """Whether the citizen must now come to the desk (for these, office hours are useful)."""
    return status in (Status.DONE, Status.SUPPLEMENT, Status.FINANCIAL)


def is_overdue(status: Status, appointment: date | None, today: date) -> bool:
    """Whether the commune is late: the appointment date has passed while the result is
    still owed (statuses in :data:`PENDING_ON_US`)."""
    return appointment is not None and appointment < today and status in PENDING_ON_US


def overdue_note(appointment: date, today: date, hotline: str) -> str:
    """The apology shown with an overdue dossier, with the commune's hotline."""
    days = (today - appointment).days
    return (
        f"Hồ sơ đã quá ngày hẹn trả {days} ngày. Chúng tôi thành thật xin lỗi ông/bà vì sự "
        f"chậm trễ. Ông/bà vui lòng gọi đường dây nóng {hotline} để được thông tin cụ thể."
    )
