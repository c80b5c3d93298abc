"""Telling a follow-up about the current topic from another subject, and a situation
from a single shared word (the dialogue's decisions, not its plumbing)."""

from __future__ import annotations

import pytest

from bot.dialogue import Engine
from bot.messages import Incoming, Intent, Response


async def ask(engine: Engine, text: str, chat: str = "c1") -> Response:
    return await engine.handle(Incoming("test", "u1", chat, text))


def top(response: Response) -> str | None:
    return response.matches[0].id if response.matches else None


@pytest.mark.parametrize(
    ("topic", "other"),
    [
        ("lam hop dong tang cho dat cho con o xa can mang gi", "giá lúa tháng này bao nhiêu"),
        ("chứng thực bản sao hết bao nhiêu tiền", "giá lúa tháng này bao nhiêu"),
        ("chứng thực chữ ký trên giấy ủy quyền ở đâu", "giá heo hơi hôm nay"),
    ],
)
async def test_another_subject_is_not_read_within_the_topics_field(engine: Engine, topic: str, other: str) -> None:
    """Only the field's own name would match ("Chứng thực giá lúa"): nothing of the
    message names a procedure of the field, so it is not a correction."""
    await ask(engine, topic)
    assert (await ask(engine, other)).intent is Intent.UNKNOWN


@pytest.mark.parametrize("other", ["thoi tiet mai the nao", "thoi tiet hom nay"])
async def test_a_message_read_only_by_guessing_spellings_does_not_describe_the_topic(engine: Engine, other: str) -> None:
    """"tiet" is not a catalogue word; read as "tien" it would seem to be about the topic."""
    await ask(engine, "xin trợ cấp cho người khuyết tật cần giấy tờ gì")
    assert (await ask(engine, "nộp ở đâu")).intent is Intent.PROCEDURE
    assert (await ask(engine, other)).intent is Intent.UNKNOWN


@pytest.mark.parametrize("text", ["vé số", "xổ số", "mua vé xổ số ở đâu"])
async def test_one_shared_word_is_not_a_familys_situation(engine: Engine, text: str) -> None:
    """"số" folds to "so" like "sổ" (mất sổ): one word is not the situation "mất sổ"."""
    assert (await ask(engine, text)).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("mất giấy khai sinh", "trich-luc-ho-tich"),
        ("gks bị mất làm lại được không", "trich-luc-ho-tich"),
        ("làm sổ đỏ ở đâu", "giay-chung-nhan-dat"),  # "đỏ" folds to a filler: the pair still says it
    ],
)
async def test_a_situation_said_in_two_words_or_more_still_gets_the_familys_answer(
    engine: Engine, text: str, meant: str
) -> None:
    assert top(await ask(engine, text)) == meant


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant"),
    [
        ("chứng thực bản sao", "thế chữ ký thì sao", "chung-thuc-chu-ky"),
        ("chứng thực chữ ký hết bao nhiêu tiền", "thế còn bản sao", "chung-thuc-ban-sao"),
    ],
)
async def test_a_follow_up_naming_a_close_entry_of_the_field_moves_to_it(
    engine: Engine, topic: str, follow_up: str, meant: str
) -> None:
    """A follow-up cue with a few words naming another entry of the topic's field is about
    that entry, though the words alone score too low to be answered."""
    await ask(engine, topic)
    assert top(await ask(engine, follow_up)) == meant


@pytest.mark.parametrize(
    ("follow_up", "aspect"),
    [
        ("mat bao lau z", "time"),  # teencode "z" for "vậy"
        ("le phi bn dz", "fee"),
        ("lệ fí bn", "fee"),  # teencode "f" for "ph"
        ("o dau v", "where"),
        ("co phai 2 nguoi cung di ko", "conditions"),  # who must come
        ("hai người cùng phải đi à", "conditions"),
    ],
)
async def test_follow_ups_in_teencode_and_about_who_must_come(engine: Engine, follow_up: str, aspect: str) -> None:
    await ask(engine, "dk ket hon can gi")
    answer = await ask(engine, follow_up)
    assert (top(answer), answer.aspect.value if answer.aspect else None) == ("ket-hon", aspect)


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant"),
    [
        ("trợ cấp người cao tuổi", "mất bao lâu thì có tiền", "tro-cap-huu-tri-xa-hoi"),
        ("trợ cấp người cao tuổi", "bao giờ thì nhận được tiền", "tro-cap-huu-tri-xa-hoi"),
    ],
)
async def test_a_follow_up_in_words_the_topic_also_uses_stays_on_the_topic(
    engine: Engine, topic: str, follow_up: str, meant: str
) -> None:
    await ask(engine, topic)
    assert top(await ask(engine, follow_up)) == meant


@pytest.mark.parametrize("text", ["bố em mất tuần trước", "mẹ tôi mất hôm qua, làm giấy chứng tử thế nào", "chồng chị mất rồi"])
async def test_a_person_mat_with_whose_between_is_a_death(engine: Engine, text: str) -> None:
    """"bố em mất" is a death (khai tử) like "bố mất", not a lost paper."""
    assert top(await ask(engine, text)) == "khai-tu"


@pytest.mark.parametrize("text", ["hộ kinh doanh", "em muốn hỏi về hộ kinh doanh"])
async def test_words_every_member_of_a_family_uses_get_its_common_case(engine: Engine, text: str) -> None:
    """"hộ kinh doanh" is in every member's name; the shortest name ("đóng hộ kinh doanh")
    must not win: the family fits fairly, its common case is ranked, so it is answered."""
    answer = await ask(engine, text)
    assert top(answer) == "ho-kinh-doanh" and answer.intent is Intent.PROCEDURE


async def test_a_fair_family_fit_leaves_a_variant_whose_common_case_is_not_ranked(engine: Engine) -> None:
    assert top(await ask(engine, "so do da co roi ma bi mat")) == "cap-lai-so-do-bi-mat"


@pytest.mark.parametrize("text", ["nuôi bò", "nuôi heo thế nào cho nhanh lớn", "nuôi gà thả vườn bao lâu thì xuất chuồng"])
async def test_raising_animals_is_not_adoption(engine: Engine, text: str) -> None:
    """"con nuôi" keeps its "con" (not "còn"): "nuôi" alone names no procedure."""
    assert (await ask(engine, text)).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    "text", ["xin con nuôi", "nhận con nuôi cần giấy tờ gì", "làm giấy tờ con nuôi ở xã", "nhận nuôi bé hàng xóm", "nhan con nuio"]
)
async def test_adoption_is_still_adoption(engine: Engine, text: str) -> None:
    assert top(await ask(engine, text)) == "nuoi-con-nuoi"


@pytest.mark.parametrize(
    ("first", "follow_up", "meant", "aspect"),
    [
        ("bố em mất tuần trước", "cần giấy tờ gì", "khai-tu", "documents"),  # after "Có phải ...?"
        ("sao y giấy khai sinh", "lệ phí bao nhiêu", "chung-thuc-ban-sao", "fee"),  # after "which one?"
    ],
)
async def test_an_aspect_asked_right_after_the_bot_offered_procedures_is_about_the_first(
    engine: Engine, first: str, follow_up: str, meant: str, aspect: str
) -> None:
    offered = await ask(engine, first)
    assert any(c.data == f"p:{meant}" for r in offered.replies for c in r.choices)
    answer = await ask(engine, follow_up)
    assert (top(answer), answer.aspect.value if answer.aspect else None) == (meant, aspect)


async def test_another_subject_after_the_bot_offered_procedures_is_still_refused(engine: Engine) -> None:
    await ask(engine, "bố em mất tuần trước")
    assert (await ask(engine, "giá vàng hôm nay bao nhiêu")).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("đăng ký lễ hội", "dang-ky-le-hoi"),  # "hội" is not the filler "hỏi"
        ("dang ky le hoi lan dau can chuan bi nhung gi", "dang-ky-le-hoi"),
        ("đăng ký các ngày lễ cúng trong năm ở đình", "dang-ky-hoat-dong-tin-nguong"),
    ],
)
async def test_a_festival_is_not_a_rite(engine: Engine, text: str, meant: str) -> None:
    assert top(await ask(engine, text)) == meant


@pytest.mark.parametrize(
    "other", ["bạn tên gì", "có người yêu chưa", "tiền điện tháng này bao nhiêu", "xin số điện thoại trưởng thôn"]
)
async def test_a_message_only_half_of_whose_words_the_topic_uses_is_another_subject(engine: Engine, other: str) -> None:
    """One word of two shared with the topic ("tên" of a birth certificate, "tiền") is not
    enough to read the message as more about it."""
    await ask(engine, "đăng ký khai sinh cần gì")
    assert (await ask(engine, other)).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    ("follow_up", "aspect"),
    [("ông bà đi thay được không", "conditions"), ("bé sinh ở bệnh viện thì nộp ở đâu", "where"), ("thế còn lệ phí", "fee")],
)
async def test_follow_ups_mostly_in_the_topics_words_keep_the_topic(engine: Engine, follow_up: str, aspect: str) -> None:
    await ask(engine, "đăng ký khai sinh cần gì")
    answer = await ask(engine, follow_up)
    assert (top(answer), answer.aspect.value if answer.aspect else None) == ("khai-sinh", aspect)


@pytest.mark.parametrize(
    ("topic", "meant"),
    [("xin vào hộ cận nghèo cần làm gì", "cong-nhan-ho-ngheo"), ("trợ cấp hưu trí xã hội", "tro-cap-huu-tri-xa-hoi")],
)
async def test_who_to_file_with_is_a_where_follow_up(engine: Engine, topic: str, meant: str) -> None:
    await ask(engine, topic)
    answer = await ask(engine, "nộp hồ sơ cho ai")
    assert (top(answer), answer.aspect.value if answer.aspect else None) == (meant, "where")


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant", "aspect"),
    [
        ("khai tử", "thế tiền lệ phí", "khai-tu", "fee"),  # "tiền" of a fee, not of trợ cấp
        ("chứng thực bản sao", "bn tien 1 trang", "chung-thuc-ban-sao", "fee"),  # per page
        ("trợ cấp hưu trí xã hội", "bao giờ có tiền", "tro-cap-huu-tri-xa-hoi", "time"),
    ],
)
async def test_money_words_of_a_fee_or_a_payment_date_stay_on_the_topic(
    engine: Engine, topic: str, follow_up: str, meant: str, aspect: str
) -> None:
    await ask(engine, topic)
    answer = await ask(engine, follow_up)
    assert (top(answer), answer.aspect.value if answer.aspect else None) == (meant, aspect)
