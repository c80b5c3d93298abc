"""A question that already answers a family's deciding question gets that variant, not
the common case: an age or elapsed time, a foreign element, a neighbouring country in a
border commune, a registration already made abroad, a lost registry book, a declined part
of a combined procedure, military-service and guardianship situations."""

from __future__ import annotations

import pytest

from bot.dialogue import Engine
from bot.messages import Incoming, Response


async def ask(engine: Engine, text: str, chat: str = "c1") -> Response:
    return await engine.handle(Incoming("test", "u1", chat, text))


def top(response: Response) -> str | None:
    return response.matches[0].id if response.matches else None


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("bé nhà tôi được 4 tháng rồi mà chưa làm giấy khai sinh", "khai-sinh-qua-han"),
        ("con em gần 2 tuổi chưa có giấy khai sinh thì làm sao", "khai-sinh-qua-han"),
        ("khai sinh cho bé hơn 60 ngày tuổi cần giấy tờ gì", "khai-sinh-qua-han"),
        ("bé mới sinh được 10 ngày làm khai sinh cần gì", "khai-sinh"),
        ("ông tôi sinh năm 1950 chưa bao giờ có giấy khai sinh", "khai-sinh-nguoi-da-co-giay-to"),
    ],
)
async def test_an_age_stated_picks_the_birth_registration_it_needs(engine: Engine, text: str, meant: str) -> None:
    assert top(await ask(engine, text)) == meant


async def test_the_variant_an_age_picks_is_answered_without_the_deciding_question(engine: Engine) -> None:
    reply = (await ask(engine, "bé nhà tôi được 4 tháng rồi mà chưa làm giấy khai sinh")).replies[0]
    assert "❓" not in reply.text and "quá hạn" in reply.text.lower()


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("khai sinh cho con, chồng em là người Nhật", "khai-sinh-nuoc-ngoai"),
        ("bố người Úc, chưa đăng ký kết hôn, khai sinh cho con có tên bố", "khai-sinh-nhan-cha-me-con-nuoc-ngoai"),
        ("đăng ký lại khai sinh cho người nước ngoài cần gì", "dang-ky-lai-khai-sinh-nuoc-ngoai"),
        ("lấy vợ người Lào, nhà ở xã biên giới thì đăng ký kết hôn thế nào", "ket-hon-bien-gioi"),
        ("khai tử cho người Campuchia mất ở vùng biên", "khai-tu-bien-gioi"),
        ("con em sinh ở Nhật Bản, đã có giấy khai sinh Nhật, về quê ghi vào sổ thế nào", "ghi-chu-ho-tich-nuoc-ngoai"),
        ("vợ chồng em đã đăng ký kết hôn tại Hàn Quốc, về Việt Nam làm gì", "ghi-chu-ket-hon-nuoc-ngoai"),
    ],
)
async def test_a_foreign_element_picks_the_foreign_sibling(engine: Engine, text: str, meant: str) -> None:
    assert top(await ask(engine, text)) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("mất giấy kết hôn, sổ lưu ở xã cũng bị mất", "dang-ky-lai-ket-hon"),
        ("mất giấy kết hôn, sổ ở xã cũng bị cháy rồi, vợ tôi là Việt kiều", "dang-ky-lai-ket-hon-nuoc-ngoai"),
        ("mất giấy khai sinh của mẹ, sổ gốc ở xã cũng không còn, mẹ là kiều bào ở Pháp", "dang-ky-lai-khai-sinh-nuoc-ngoai"),
    ],
)
async def test_a_lost_registry_book_picks_registering_again_and_a_foreign_element_its_foreign_one(
    engine: Engine, text: str, meant: str
) -> None:
    assert top(await ask(engine, text)) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("làm khai sinh với thẻ bảo hiểm y tế cho con, không nhập khẩu", "lien-thong-khai-sinh-bhyt"),
        ("khai sinh kèm thẻ bhyt cho bé", "lien-thong-khai-sinh-bhyt"),
        ("làm khai sinh, nhập khẩu và thẻ bhyt cho bé một lần", "lien-thong-khai-sinh"),
        ("con tôi đang học đại học muốn xin hoãn nghĩa vụ quân sự", "tam-hoan-goi-nhap-ngu"),
        ("vừa chuyển đến xã này thì đăng ký nghĩa vụ quân sự thế nào", "dang-ky-nghia-vu-quan-su-chuyen-den"),
        ("nhờ người theo dõi việc giám hộ cho cháu thì đăng ký ở đâu", "giam-sat-giam-ho"),
    ],
)
async def test_combined_military_service_and_guardianship_situations_get_their_variant(
    engine: Engine, text: str, meant: str
) -> None:
    assert top(await ask(engine, text)) == meant


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("người lao động làm khai sinh cho con cần gì", "khai-sinh"),
        ("làm giấy khai sinh cho con ở tư pháp xã", "khai-sinh"),
        ("khai sinh quá hạn 10 ngày có bị phạt không", "khai-sinh-qua-han"),
    ],
)
async def test_words_that_only_look_like_a_fact_change_nothing(engine: Engine, text: str, meant: str) -> None:
    assert top(await ask(engine, text)) == meant
