"""Follow-up turns read as a person at the desk would: a bare aspect word stays on the
topic, an overview question carries no earlier aspect, a variant or combined entry of the
topic is found, a refused question is read with the next message, status questions and
"quay lại" keep or bring back a topic (one test per kind of follow-up, not per sentence)."""

from __future__ import annotations

import pytest

from bot.dialogue import Engine
from bot.messages import Incoming, Intent, Response
from bot.procedures.lexicon import Lexicon
from bot.procedures.normalize import Normalizer


async def ask(engine: Engine, text: str, chat: str = "c1") -> Response:
    return await engine.handle(Incoming("test", "u1", chat, text))


def read(response: Response) -> tuple[str | None, str | None]:
    """The procedure answered first and the aspect asked."""
    return (response.matches[0].id if response.matches else None, response.aspect.value if response.aspect else None)


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant", "aspect"),
    [
        ("chứng thực bản sao bằng tốt nghiệp", "phí?", "chung-thuc-ban-sao", "fee"),
        ("con 5 tuổi chưa làm giấy khai sinh, giờ làm cần gì", "có bị phạt không", "khai-sinh-qua-han", "fee"),
        ("đăng ký kết hôn", "thế còn phí", "ket-hon", "fee"),
    ],
)
async def test_a_bare_aspect_word_after_an_answer_stays_on_the_topic(
    engine: Engine, topic: str, follow_up: str, meant: str, aspect: str
) -> None:
    await ask(engine, topic)
    answer = await ask(engine, follow_up)
    assert answer.intent is Intent.PROCEDURE and read(answer) == (meant, aspect)


def test_bare_aspect_words_count_only_when_nothing_else_is_named() -> None:
    """"phí" alone asks the fee; in "hỗ trợ học phí" it names the procedure."""
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    assert [a.value for a in lexicon.bare_aspects_of(normalizer.tokens("phí?"))] == ["fee"]
    assert lexicon.bare_aspects_of(normalizer.tokens("hỗ trợ học phí")) == []
    assert lexicon.bare_aspects_of(normalizer.tokens("lễ Phật đản")) == []


async def test_an_interjection_before_a_correction_keeps_the_aspect_asked(engine: Engine) -> None:
    """"ủa nhầm, ..." is a correction like "à nhầm": the aspect asked before carries over."""
    await ask(engine, "chung thuc ban sao bang tot nghiep")
    await ask(engine, "lệ phí bao nhiêu")
    assert read(await ask(engine, "ủa nhầm, trích lục khai sinh cơ")) == ("trich-luc-ho-tich", "fee")


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant"),
    [
        (
            "dang ky ho kinh doanh mat bao lau",
            "thế nếu đang kinh doanh mà muốn tạm nghỉ mấy tháng thì làm thủ tục gì",
            "tam-ngung-ho-kinh-doanh",
        ),
        (
            "nhận con nuôi trong họ hàng mất bao lâu",
            "còn nếu người nhận nuôi là Việt kiều quốc tịch Mỹ thì làm thủ tục gì",
            "nuoi-con-nuoi-nuoc-ngoai",
        ),
    ],
)
async def test_a_follow_up_asking_what_to_do_gets_the_close_entry_it_names_without_the_old_aspect(
    engine: Engine, topic: str, follow_up: str, meant: str
) -> None:
    """The message's own words name a close entry of the topic (tạm ngừng, not chấm dứt,
    which only the field's name "hoạt động" would pull; the foreign variant of the topic
    among several foreign entries), and "làm thủ tục gì" asks about it as a whole."""
    await ask(engine, topic)
    assert read(await ask(engine, follow_up)) == (meant, None)


@pytest.mark.parametrize(
    ("topic", "other"),
    [
        ("đăng ký hộ kinh doanh mất bao lâu", "giá lợn hơi hôm nay bao nhiêu"),
        ("đăng ký hộ kinh doanh mất bao lâu", "cách nấu bánh chưng ngon"),
        ("xin trợ cấp người cao tuổi ở đâu", "tiền điện tháng này sao cao thế"),
        ("đăng ký kết hôn cần giấy tờ gì", "kể chuyện cười đi"),
        ("đăng ký hộ kinh doanh mất bao lâu", "thời tiết ngày mai có mưa không"),  # "thôi" of "thôi kinh doanh"
        ("đăng ký hộ kinh doanh mất bao lâu", "bao gio duoc nghi tet"),  # "nghỉ" of "nghỉ bán hẳn"
        ("đăng ký hộ kinh doanh mất bao lâu", "gia vang hom nay"),  # "gia" of "hộ gia đình"
    ],
)
async def test_another_subject_in_words_the_topic_shares_is_refused(engine: Engine, topic: str, other: str) -> None:
    """Read in the topic's field, the field's own name ("hoạt động", "xã hội") made a close
    entry out of another subject; a close entry must be named by words the topic does not
    use. "cười" folds to "cuoi", the word for the last choice offered, but is no pick of it."""
    await ask(engine, topic)
    assert (await ask(engine, other)).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    ("topic", "follow_up", "meant", "aspect"),
    [
        ("thang sau cuoi, dang ky ket hon can mang gi", "lam o xa nha trai hay nha gai", "ket-hon", "where"),
        ("xin giay xac nhan tinh trang hon nhan", "làm trên vneid được không hay phải lên xã",
         "xac-nhan-tinh-trang-hon-nhan", "conditions"),
    ],
)
async def test_a_follow_up_whose_few_words_name_nothing_but_the_cases_people_stays_on_the_topic(
    engine: Engine, topic: str, follow_up: str, meant: str, aspect: str
) -> None:
    await ask(engine, topic)
    assert read(await ask(engine, follow_up)) == (meant, aspect)


async def test_an_aspect_asked_after_a_refusal_offers_the_refused_questions_best_guess(engine: Engine) -> None:
    refused = await ask(engine, "mấy anh em chia đất bố mẹ để lại, làm văn bản thỏa thuận ở xã được không")
    assert refused.intent is Intent.UNKNOWN
    documents = await ask(engine, "cần những gì")
    assert read(documents) == ("chung-thuc-phan-chia-di-san", "documents")
    assert any(c.data == "p:chung-thuc-phan-chia-di-san" for c in documents.replies[0].choices)
    assert read(await ask(engine, "đúng rồi")) == ("chung-thuc-phan-chia-di-san", "documents")


async def test_a_message_read_together_with_the_refused_one_before_it(engine: Engine) -> None:
    assert (await ask(engine, "mưa bão sập nhà")).intent is Intent.UNKNOWN
    assert read(await ask(engine, "có được hỗ trợ không"))[0] == "tro-giup-xa-hoi-khan-cap"


async def test_after_refusing_another_subject_an_aspect_is_still_refused(engine: Engine) -> None:
    await ask(engine, "giá lợn hơi hôm nay bn")
    assert (await ask(engine, "cần những gì")).intent is Intent.UNKNOWN


@pytest.mark.parametrize(
    ("status", "meant"),
    [("hồ sơ kết hôn của em nộp hôm thứ 2 xong chưa ạ", "ket-hon"), ("hồ sơ khai tử của bố em nộp tuần trước đến đâu rồi", "khai-tu")],
)
async def test_a_status_question_naming_a_procedure_makes_it_the_topic(engine: Engine, status: str, meant: str) -> None:
    assert (await ask(engine, status)).intent is Intent.STATUS
    assert read(await ask(engine, "thế còn lệ phí?")) == (meant, "fee")


async def test_quay_lai_with_nothing_named_returns_to_the_topic_before(engine: Engine) -> None:
    await ask(engine, "khai sinh cần gì")
    await ask(engine, "kết hôn mất bao lâu")
    assert read(await ask(engine, "quay lại cái lúc nãy"))[0] == "khai-sinh"


@pytest.mark.parametrize(
    ("topic", "together", "meant"),
    [
        ("làm khai sinh cho con ở đâu ạ", "làm luôn thẻ bảo hiểm y tế cho cháu được không", "lien-thong-khai-sinh-bhyt"),
        ("khai tử cần giấy gì", "làm luôn cả hỗ trợ mai táng được không", "lien-thong-khai-tu"),
        # no "combines" in the file: the entry whose names hold both
        ("dang ky nhan cha con can giay to gi", "giờ muốn làm khai sinh với nhận cha luôn một lần cho cháu",
         "khai-sinh-nhan-cha-me-con"),
    ],
)
async def test_another_procedure_done_at_the_same_time_gets_the_combined_entry(
    engine: Engine, topic: str, together: str, meant: str
) -> None:
    await ask(engine, topic)
    assert read(await ask(engine, together))[0] == meant


@pytest.mark.parametrize(
    ("follow_up", "aspect"),
    [
        ("nộp hồ sơ ở đâu vậy", "where"),
        ("thủ tục thế nào", None),
        ("mấy hôm thì lấy", "time"),
        ("người nhà đi thay được ko", "conditions"),
        ("nộp ở chỗ nào", "where"),
        ("làm đơn ở đâu", "where"),  # "đơn" is in "đơn ly hôn", but every procedure has a form
    ],
)
@pytest.mark.parametrize(
    ("topic", "meant"),
    [("chứng thực bản sao", "chung-thuc-ban-sao"), ("trợ cấp hưu trí xã hội", "tro-cap-huu-tri-xa-hoi")],
)
async def test_a_follow_up_in_the_desks_generic_words_stays_on_the_topic(
    engine: Engine, topic: str, meant: str, follow_up: str, aspect: str | None
) -> None:
    """"hồ sơ", "nộp", "lấy", "thay" are in some entry's name (tuyển sinh, kết hôn, người
    có uy tín) but every procedure's follow-ups use them: they name no other procedure."""
    await ask(engine, topic)
    assert read(await ask(engine, follow_up)) == (meant, aspect)


@pytest.mark.parametrize(
    "follow_up", ["thế nộp hồ sơ ở đâu hả bạn", "nhờ con trai đi nộp được không", "à còn một việc nữa, làm ở đâu"]
)
async def test_people_and_polite_words_in_a_follow_up_name_no_other_procedure(engine: Engine, follow_up: str) -> None:
    await ask(engine, "đăng ký kết hôn cần giấy tờ gì")
    assert read(await ask(engine, follow_up))[0] == "ket-hon"


@pytest.mark.parametrize(
    ("follow_up", "aspect"),
    [("e ko có sổ hộ khẩu thì sao", "conditions"), ("chưa có cccd thì làm được không", "conditions")],
)
async def test_a_missing_paper_is_a_question_about_the_topic_not_the_papers_entry(
    engine: Engine, follow_up: str, aspect: str
) -> None:
    await ask(engine, "đăng ký kết hôn cần giấy tờ gì")
    assert read(await ask(engine, follow_up)) == ("ket-hon", aspect)


async def test_a_paper_asked_for_on_its_own_is_still_its_entry(engine: Engine) -> None:
    await ask(engine, "đăng ký kết hôn cần giấy tờ gì")
    assert read(await ask(engine, "làm căn cước ở đâu"))[0] == "can-cuoc"


async def test_thanks_with_a_follow_up_question_answers_the_question(engine: Engine) -> None:
    await ask(engine, "đăng ký kết hôn cần giấy tờ gì")
    answer = await ask(engine, "ok cảm ơn, còn phí thì sao")
    assert answer.intent is Intent.PROCEDURE and read(answer) == ("ket-hon", "fee")
    assert (await ask(engine, "cảm ơn nhiều")).intent is Intent.HELP


async def test_a_follow_up_naming_a_variant_of_the_topic_moves_to_the_variant(engine: Engine) -> None:
    """The variant's name holds the topic's ("khai sinh ... nước ngoài"): the message's
    extra words choose it even though they score below a confident answer alone."""
    await ask(engine, "khai sinh cho con cần gì")
    assert read(await ask(engine, "con sinh ra ở nước ngoài thì sao")) == ("khai-sinh-nuoc-ngoai", "documents")


@pytest.mark.parametrize(
    ("follow_up", "aspect"),
    [
        ("hết mấy tiền", "fee"),
        ("mất mấy trăm", "fee"),  # not "mất mấy [ngày]"
        ("phải đóng tiền không", "fee"),
        ("đợi bao lâu", "time"),  # "đợi", not "đổi" (cải chính)
        ("nơi làm", "where"),
        ("ra xã hay phải lên tỉnh", "where"),
        ("cần cái gì", "documents"),
        ("có form không", "forms"),
        ("có phải có mặt không", "conditions"),  # who must come, not "có mất" a fee
    ],
)
async def test_more_ways_of_asking_an_aspect_stay_on_the_topic(engine: Engine, follow_up: str, aspect: str) -> None:
    await ask(engine, "đăng ký khai tử cho bố")
    assert read(await ask(engine, follow_up)) == ("khai-tu", aspect)


@pytest.mark.parametrize(("follow_up", "aspect"), [("phí?", "fee"), ("nộp hồ sơ ở đâu vậy", "where")])
async def test_a_bare_or_generic_follow_up_after_the_bot_asked_is_about_the_procedure_offered(
    engine: Engine, follow_up: str, aspect: str
) -> None:
    offered = await ask(engine, "nhà em có cháu mới sinh")  # "Có phải ông/bà hỏi về «Đăng ký khai sinh»?"
    assert any(c.data == "p:khai-sinh" for c in offered.replies[0].choices)
    assert read(await ask(engine, follow_up)) == ("khai-sinh", aspect)


@pytest.mark.parametrize(
    ("first", "reply", "meant", "aspect"),
    [
        ("bố em mất tuần trước", "đúng rồi, cần giấy gì", "khai-tu", "documents"),
        ("nhà em có cháu mới sinh", "dạ đúng, làm ở đâu ạ", "khai-sinh", "where"),
    ],
)
async def test_a_yes_with_an_aspect_to_the_bots_question_answers_that_aspect(
    engine: Engine, first: str, reply: str, meant: str, aspect: str
) -> None:
    await ask(engine, first)  # "Có phải ông/bà hỏi về ...?"
    assert read(await ask(engine, reply)) == (meant, aspect)


async def test_an_answer_closing_the_deciding_questions_own_words_picks_the_member(engine: Engine) -> None:
    """"Việc khai sinh ... còn lưu trong sổ hộ tịch ở xã không?" - "sổ gốc ở xã vẫn còn"."""
    await ask(engine, "mất giấy khai sinh")
    assert read(await ask(engine, "sổ gốc ở xã vẫn còn"))[0] == "trich-luc-ho-tich"
    assert read(await ask(engine, "lệ phí")) == ("trich-luc-ho-tich", "fee")


async def test_a_question_opening_with_co_after_a_familys_question_is_no_yes(engine: Engine) -> None:
    """"có mẫu tờ khai không" opens a question; it does not answer "có" to the family's
    "Một trong hai người có phải người nước ngoài ...?"."""
    await ask(engine, "dang ky ket hon")
    assert read(await ask(engine, "có mẫu tờ khai không, cho em xin")) == ("ket-hon", "forms")


@pytest.mark.parametrize(("follow_up", "aspect"), [("ở xã không làm được à", "where"), ("thế lệ phí bao nhiêu", "fee")])
async def test_follow_ups_after_a_referral_stay_on_the_referral(engine: Engine, follow_up: str, aspect: str) -> None:
    await ask(engine, "làm hộ chiếu ở đâu")
    answer = await ask(engine, follow_up)
    assert answer.intent is Intent.REFERRAL and read(answer) == ("ho-chieu", aspect)


async def test_a_correction_saying_no_never_offers_the_topic_it_rejects(engine: Engine) -> None:
    await ask(engine, "khai sinh cho con cần gì")
    corrected = await ask(engine, "không phải, con em sinh ở Nhật")
    assert "p:khai-sinh" not in {c.data for r in corrected.replies for c in r.choices}
    assert read(corrected)[0] != "khai-sinh"


@pytest.mark.parametrize("follow_up", ["phải công chứng không", "cần xác nhận của thôn không"])
async def test_asking_whether_a_paper_must_be_certified_is_about_the_topics_papers(engine: Engine, follow_up: str) -> None:
    """"công chứng", "xác nhận" name procedures of their own, but said alone after an answer
    they ask what the topic's papers must be."""
    await ask(engine, "đăng ký kết hôn cần giấy tờ gì")
    assert read(await ask(engine, follow_up)) == ("ket-hon", "documents")


@pytest.mark.parametrize("follow_up", ["làm online trên VNeID được không", "nộp trên app được không", "gửi qua bưu điện được không"])
async def test_how_to_file_asked_after_an_answer_stays_on_the_topic(engine: Engine, follow_up: str) -> None:
    """VNeID, online, the post: ways of filing, not another subject."""
    await ask(engine, "làm khai sinh cho con cần gì")
    answer = await ask(engine, follow_up)
    assert answer.intent is Intent.PROCEDURE and read(answer)[0] == "khai-sinh"
