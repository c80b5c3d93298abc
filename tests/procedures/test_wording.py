"""The words of answers about procedures."""

from __future__ import annotations

import datetime as dt

from bot.config import CommuneConfig
from bot.messages import Aspect
from bot.procedures.catalogue import Procedure
from bot.procedures.wording import ReplyWriter

WRITER = ReplyWriter(CommuneConfig())


def proc(**kw) -> Procedure:
    base = dict(id="tro-cap", name="Trợ cấp xã hội hàng tháng", field="Bảo trợ xã hội", aliases=("trợ cấp",),
                where="UBND xã", source=("NĐ 20/2021",), reviewed=dt.date(2026, 12, 1),
                documents=("Tờ khai",), time="10 ngày làm việc")
    base.update(kw)
    return Procedure(**base)


def test_conditions_are_answered_from_the_file_with_online_filing() -> None:
    p = proc(conditions=("Người từ đủ 80 tuổi không có lương hưu",), online="Nộp trên Cổng Dịch vụ công quốc gia")
    reply = WRITER.procedure(p, [Aspect.CONDITIONS])
    assert "Ai được làm, điều kiện:\n1. Người từ đủ 80 tuổi không có lương hưu" in reply.text
    assert "Nộp trực tuyến: Nộp trên Cổng Dịch vụ công quốc gia" in reply.text
    assert "Điều kiện" not in [c.label for c in reply.choices]


def test_no_conditions_in_the_file_says_so_and_offers_no_conditions_button() -> None:
    p = proc()
    assert WRITER.aspect_text(p, Aspect.CONDITIONS).startswith("Điều kiện: danh mục của xã chưa ghi")
    labels = [c.label for c in WRITER.procedure(p, [Aspect.FEE]).choices]
    assert "Điều kiện" not in labels
    assert "Điều kiện" in [c.label for c in WRITER.procedure(proc(conditions=("x",)), [Aspect.FEE]).choices]


def test_a_yes_no_question_gets_the_yes_or_no_first_when_the_file_tells_it() -> None:
    free = WRITER.procedure(proc(fee="Miễn lệ phí."), [Aspect.FEE], yes_no=True)
    assert free.text.startswith("Trợ cấp xã hội hàng tháng: Không mất lệ phí.\n\nLệ phí: Miễn lệ phí.")
    paid = WRITER.procedure(proc(fee="8.000 đồng/bản."), [Aspect.FEE], yes_no=True)
    assert paid.text.startswith("Trợ cấp xã hội hàng tháng: Có, phải nộp lệ phí.")
    unclear = WRITER.procedure(proc(fee="Theo mức HĐND tỉnh."), [Aspect.FEE], yes_no=True)
    assert unclear.text.startswith("Trợ cấp xã hội hàng tháng\n\nLệ phí:")
    where = WRITER.procedure(proc(), [Aspect.WHERE], yes_no=True)
    assert where.text.startswith("Trợ cấp xã hội hàng tháng: Có, nộp tại Bộ phận Một cửa của xã.")
