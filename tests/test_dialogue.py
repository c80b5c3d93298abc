"""The dialogue engine, as a citizen or a hamlet head would use it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.procedures.catalogue import Catalogue
from bot.config import Config
from bot.dialogue import Engine
from bot.dossiers.desk import StatusDesk
from bot.dossiers.store import Store
from bot.dossiers.sync import seed_demo
from bot.messages import Aspect, Incoming, Intent, Response


async def ask(engine: Engine, text: str, *, chat: str = "c1", forwarded: bool = False) -> Response:
    return await engine.handle(Incoming("test", "u1", chat, text, forwarded=forwarded))


def top(response: Response) -> str | None:
    return response.matches[0].id if response.matches else None


def text_of(response: Response) -> str:
    return "\n\n".join(r.text for r in response.replies)


@pytest.fixture
async def desk_engine(config: Config, catalogue: Catalogue, tmp_path):
    """An engine with the real status desk on a database seeded with the demo export."""
    from bot.app import catalogue_ids

    store = await Store.open(tmp_path / "dossiers.sqlite3")
    engine = Engine.build(config, catalogue, status=StatusDesk(store, config))
    await seed_demo(store, config, procedure_ids=catalogue_ids(catalogue, engine.matcher))
    yield engine
    await store.close()


@pytest.mark.parametrize(
    ("question", "expected", "aspect"),
    [
        ("lam giay khai sinh cho con can giay to gi", "khai-sinh", Aspect.DOCUMENTS),
        ("đk kết hôn mất bao nhiêu tiền", "ket-hon", Aspect.FEE),
        ("làm giấy chứng tử cho bà mất mấy ngày", "khai-tu", Aspect.TIME),
        ("xin giấy xác nhận độc thân nộp ở đâu", "xac-nhan-tinh-trang-hon-nhan", Aspect.WHERE),
        ("photo công chứng sổ hộ khẩu ở xã đc ko", "chung-thuc-ban-sao", Aspect.WHERE),
        ("khai xinh cho be can j", "khai-sinh", Aspect.DOCUMENTS),
    ],
)
async def test_procedure_questions_lead_with_the_asked_aspect(
    engine: Engine, question: str, expected: str, aspect: Aspect | None
) -> None:
    response = await ask(engine, question)
    assert response.intent is Intent.PROCEDURE
    assert top(response) == expected
    assert response.aspect is aspect


async def test_documents_answer_is_a_numbered_list_with_other_aspects_offered(
    engine: Engine, catalogue: Catalogue
) -> None:
    response = await ask(engine, "đăng ký khai sinh cần giấy tờ gì")
    proc = catalogue.get("khai-sinh")
    assert proc is not None
    (reply,) = response.replies
    assert reply.text.startswith("Đăng ký khai sinh\n\nGiấy tờ cần chuẩn bị:\n1. ")
    assert proc.documents[0] in reply.text
    labels = [c.label for c in reply.choices]
    assert {"Trường hợp đặc biệt", "Lệ phí", "Thời hạn", "Nơi nộp"} <= set(labels)
    assert "Giấy tờ" not in labels  # shown already
    assert len(labels) <= 8


async def test_rare_cases_steps_and_notes_are_behind_choices(engine: Engine, catalogue: Catalogue) -> None:
    proc = catalogue.get("khai-sinh")
    assert proc is not None
    # Reached by a button, the answer has no family question, so every extra part fits.
    reply = (await engine.handle(Incoming("test", "u1", "c1", "Giấy tờ", choice="a:khai-sinh:documents"))).replies[0]
    rare = [d for d in proc.documents if d.startswith("Trẻ bị bỏ rơi")]
    assert rare and rare[0] not in reply.text  # rare cases are not shown to everyone
    special = next(c for c in reply.choices if c.label == "Trường hợp đặc biệt")
    shown = await engine.handle(Incoming("test", "u1", "c1", special.label, choice=special.data))
    assert rare[0] in shown.replies[0].text
    steps = next(c for c in reply.choices if c.label == "Các bước")
    shown = await engine.handle(Incoming("test", "u1", "c1", steps.label, choice=steps.data))
    assert shown.replies[0].text.startswith("Đăng ký khai sinh\n\nCác bước thực hiện:\n1. ")


async def test_an_overview_fits_a_phone_screen(engine: Engine, catalogue: Catalogue) -> None:
    for proc in catalogue:
        if proc.is_referral:
            continue
        reply = (await engine.handle(Incoming("test", "u1", proc.id, "", choice=f"p:{proc.id}"))).replies[0]
        assert len(reply.text) <= 620, proc.id


async def test_follow_up_and_correction_keep_the_conversation(engine: Engine) -> None:
    first = await ask(engine, "dk ket hon can giay to gi")
    assert top(first) == "ket-hon"
    fee = await ask(engine, "thế còn lệ phí?")
    assert (top(fee), fee.aspect) == ("ket-hon", Aspect.FEE)
    assert "Lệ phí" in text_of(fee)
    switched = await ask(engine, "à không, ý tôi là chứng thực bản sao")
    assert (top(switched), switched.aspect) == ("chung-thuc-ban-sao", Aspect.FEE)


async def test_memory_is_per_chat(engine: Engine) -> None:
    await ask(engine, "đăng ký khai tử cần gì", chat="a")
    other = await ask(engine, "mất bao lâu?", chat="b")
    assert other.intent is Intent.UNKNOWN


async def test_memory_times_out(config: Config, catalogue: Catalogue) -> None:
    from bot.session import SessionStore

    now = [0.0]
    base = Engine.build(config, catalogue)
    engine = Engine(
        config,
        catalogue,
        normalizer=base._normalizer,
        lexicon=base._lexicon,
        matcher=base._matcher,
        sessions=SessionStore(60, clock=lambda: now[0]),
    )
    await ask(engine, "đăng ký khai tử cần gì")
    now[0] = 61
    assert (await ask(engine, "mất bao lâu?")).intent is Intent.UNKNOWN


async def test_aspect_buttons_and_numbered_choices(engine: Engine) -> None:
    first = await ask(engine, "đăng ký khai sinh cần giấy tờ gì")
    fee_choice = next(c for c in first.replies[0].choices if c.label == "Lệ phí")
    pressed = await engine.handle(Incoming("test", "u1", "c1", fee_choice.label, choice=fee_choice.data))
    assert pressed.aspect is Aspect.FEE and top(pressed) == "khai-sinh"
    assert pressed.replies[0].choices[1].label == "Thời hạn"
    typed = await ask(engine, "2")  # the second choice under the fee answer
    assert typed.aspect is Aspect.TIME and top(typed) == "khai-sinh"


async def test_stale_button_gets_a_kind_message(engine: Engine) -> None:
    response = await engine.handle(Incoming("test", "u1", "c1", "Cũ", choice="p:thu-tuc-da-bo"))
    assert "đã cũ" in text_of(response)
    assert response.replies[0].choices


async def test_browse_the_catalogue_by_field(engine: Engine) -> None:
    menu = await ask(engine, "/thutuc")
    first_field = menu.replies[0].choices[0]
    assert first_field.label.startswith("Hộ tịch")
    listing = await engine.handle(Incoming("test", "u1", "c1", first_field.label, choice=first_field.data))
    assert any(c.data == "p:khai-sinh" for c in listing.replies[0].choices)  # common cases first


async def test_browsing_fits_a_phone_and_pages_long_groups(engine: Engine, catalogue: Catalogue) -> None:
    menu = (await ask(engine, "/thutuc")).replies[0]
    assert len(menu.choices) <= 20  # folders, not the many official fields
    seen: set[str] = set()
    for group in menu.choices:
        data: str | None = group.data
        while data:
            page = (await engine.handle(Incoming("test", "u1", "c1", "", choice=data))).replies[0]
            assert len(page.choices) <= 9
            seen |= {c.data[2:] for c in page.choices if c.data.startswith("p:")}
            data = next((c.data for c in page.choices if c.label == "Xem tiếp"), None)
    assert seen == {p.id for p in catalogue if not p.is_referral}  # every procedure reachable


async def test_greeting_and_help(engine: Engine) -> None:
    for text in ("xin chào", "/start", "alo bot ơi", "hướng dẫn sử dụng"):
        response = await ask(engine, text)
        assert response.intent is Intent.HELP, text
        assert "Tôi có thể" in text_of(response)


@pytest.mark.parametrize("question", ["thời tiết ngày mai thế nào", "asdfgh qwerty", "giá vàng hôm nay", "😂😂", "???"])
async def test_out_of_scope_is_refused_kindly(engine: Engine, question: str) -> None:
    response = await ask(engine, question)
    assert response.intent is Intent.UNKNOWN
    assert "chưa tìm thấy" in text_of(response)


@pytest.mark.parametrize("question", ["khai sinh tiếng Anh là gì", "kết hôn tiếng anh goi la gi", "CCCD là viết tắt của gì"])
async def test_a_question_about_a_word_is_not_answered_with_the_procedure(engine: Engine, question: str) -> None:
    response = await ask(engine, question)
    assert response.intent is Intent.UNKNOWN and not response.matches
    assert "không dịch hay giải nghĩa" in text_of(response)


async def test_translating_papers_is_still_a_procedure(engine: Engine) -> None:
    response = await ask(engine, "công chứng bản dịch tiếng Anh ở xã được không")
    assert top(response) == "chung-thuc-chu-ky-nguoi-dich"


async def test_referral_says_where_to_go_instead(engine: Engine) -> None:
    response = await ask(engine, "lam ho chieu o dau")
    assert response.intent is Intent.REFERRAL and top(response) == "ho-chieu"
    assert "không giải quyết tại Bộ phận Một cửa" in text_of(response)


async def test_status_questions_are_recognised_without_a_database(engine: Engine) -> None:
    for text in ("hồ sơ của tôi đến đâu rồi", "tra cứu 000.00.14.H56-251120-0001"):
        response = await ask(engine, text)
        assert response.intent is Intent.STATUS, text


@pytest.mark.parametrize(
    "text",
    [
        "tuần trước em nộp hồ sơ khai sinh cho con, bao giờ lấy được",
        "giấy tờ nộp từ tháng trước mà chưa thấy gì",
        "giay ket hon hen hom nay ma",
    ],
)
async def test_waiting_for_a_file_handed_in_earlier_asks_its_status(engine: Engine, text: str) -> None:
    # Filed some time ago, still waiting, no code given: a status question, not the procedure.
    assert (await ask(engine, text)).intent is Intent.STATUS


async def test_two_procedures_in_one_message(engine: Engine) -> None:
    response = await ask(engine, "làm giấy khai sinh cho con và chứng thực bản sao học bạ cần gì")
    ids = [m.id for m in response.matches]
    assert {"khai-sinh", "chung-thuc-ban-sao"} <= set(ids)
    assert "Câu hỏi có 2 việc" in text_of(response)


async def test_forwarded_question_gets_a_self_contained_reply(engine: Engine) -> None:
    response = await ask(engine, "Bà con thôn 3 nhờ hỏi: khai tử cho bố cần giấy tờ gì", forwarded=True)
    text = text_of(response)
    assert text.startswith("Về câu hỏi: «Bà con thôn 3 nhờ hỏi")
    assert "Đăng ký khai tử" in text


async def test_a_missing_fee_is_said_not_invented(config: Config, catalogue: Catalogue) -> None:
    proc = catalogue.get("khai-sinh")
    assert proc is not None
    stripped = Catalogue({**catalogue.procedures, "khai-sinh": replace(proc, fee=None)})
    engine = Engine.build(config, stripped)
    text = text_of(await ask(engine, "đăng ký khai sinh mất bao nhiêu tiền"))
    assert "chưa niêm yết lệ phí" in text
    assert "miễn" not in text.lower()


async def test_replies_state_no_amount_that_is_not_in_the_file(engine: Engine, catalogue: Catalogue) -> None:
    from bot.evaluate import unsupported_numbers

    for proc_id in ("khai-sinh", "trich-luc-ho-tich", "chung-thuc-ban-sao", "xac-nhan-tinh-trang-hon-nhan"):
        proc = catalogue.get(proc_id)
        assert proc is not None
        for aspect in ("lệ phí", "thời hạn", "cần giấy tờ gì"):
            text = text_of(await ask(engine, f"{proc.name} {aspect}", chat=f"{proc_id}{aspect}"))
            assert unsupported_numbers(text, [proc]) == [], text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "\x00\x01\x1b[31m khai sinh",
        "**đăng ký** _khai sinh_ <b>cần gì</b> [link](http://x)",
        "khai sinh " * 3000,
        "Привет 你好 مرحبا đăng ký kết hôn",
        "\ud800 lone surrogate",
    ],
)
async def test_bad_input_never_breaks_the_engine(engine: Engine, text: str) -> None:
    response = await ask(engine, text)
    assert response.replies and all(r.text.strip() for r in response.replies)
    assert "Traceback" not in text_of(response)


async def test_very_long_message_is_answered_from_the_start(engine: Engine) -> None:
    response = await ask(engine, "đăng ký khai tử cần gì. " + "blah " * 4000)
    assert top(response) == "khai-tu"


async def test_markup_in_questions_is_never_echoed_as_markup(engine: Engine) -> None:
    response = await ask(engine, "<script>alert(1)</script> khai sinh", forwarded=True)
    assert "<script>" in text_of(response)  # quoted verbatim as plain text...
    assert all(not re.search(r"</?b>", r.text) for r in response.replies)  # ...and no markup added


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), forwarded=st.booleans())
async def test_random_text_always_gets_a_reply(engine: Engine, text: str, forwarded: bool) -> None:
    response = await engine.handle(Incoming("prop", "u", "c", text, forwarded=forwarded))
    assert response.replies and all(r.text for r in response.replies)
    assert response.intent in Intent
    payload = response.to_json()
    assert set(payload) == {"intent", "matches", "aspect", "reply", "choices"}
    assert len(payload["matches"]) <= 3


@pytest.mark.parametrize("question", ["mất giấy khai sinh", "gks bị mất làm lại được không"])
async def test_a_lost_paper_gets_the_common_case_and_the_deciding_question(engine: Engine, question: str) -> None:
    response = await ask(engine, question)
    reply = response.replies[0]
    assert top(response) == "trich-luc-ho-tich"
    assert reply.text.startswith("Cấp bản sao trích lục hộ tịch")
    assert "❓ Việc khai sinh trước đây còn lưu trong sổ hộ tịch" in reply.text
    assert reply.choices[0].data == "p:dang-ky-lai-khai-sinh"
    # The person says the registry book is lost too: the variant is answered, without the question.
    variant = await engine.handle(Incoming("test", "u1", "c1", reply.choices[0].label, choice=reply.choices[0].data))
    assert variant.replies[0].text.startswith("Đăng ký lại khai sinh")
    assert "❓" not in variant.replies[0].text


async def test_a_question_naming_one_variant_gets_no_deciding_question(engine: Engine) -> None:
    response = await ask(engine, "xin bản sao giấy khai sinh cần gì")
    assert top(response) == "trich-luc-ho-tich"
    assert "❓" not in response.replies[0].text


@pytest.mark.parametrize(
    ("question", "variant"),
    [
        ("giấy khai sinh mất, sổ hộ tịch ở xã cũng bị cháy rồi thì đăng ký lại khai sinh thế nào", "dang-ky-lai-khai-sinh"),
        ("bố mẹ cưới năm 1990, giấy kết hôn thất lạc, xã báo không còn sổ nữa", "dang-ky-lai-ket-hon"),
        ("giấy chứng tử của bà bị mất, ở xã sổ cũng mất luôn", "dang-ky-lai-khai-tu"),
    ],
)
async def test_a_lost_paper_with_the_deciding_fact_stated_gets_that_variant(
    engine: Engine, question: str, variant: str
) -> None:
    response = await ask(engine, question)
    assert top(response) == variant
    assert "❓" not in response.replies[0].text


@pytest.mark.parametrize("question", ["mất giấy kết hôn", "giấy chứng tử bị thất lạc"])
async def test_other_lost_papers_get_the_copy_and_the_question(engine: Engine, question: str) -> None:
    response = await ask(engine, question)
    assert top(response) == "trich-luc-ho-tich" and "❓" in response.replies[0].text


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # The hours open with a line about today (tests/staff/test_hours.py, fixed clocks).
        ("giờ làm việc", "Hôm nay "),
        # A named day is answered for that day ("Hôm nay thứ Bảy" on a Saturday).
        ("thu 7 co lam viec ko", ("Thứ Bảy ", "Hôm nay thứ Bảy")),
        ("địa chỉ ủy ban ở đâu", "Địa chỉ: Bộ phận Một cửa, trụ sở UBND xã Tân Hòa"),
        ("sdt mot cua", "Điện thoại Bộ phận Một cửa: 0210 3800 000"),
        ("cảm ơn cháu nhé", "Dạ, không có gì ạ"),
        ("chào cháu", "Xin chào!"),
        ("bạn giúp được gì", "Xin chào!"),
        # What the bot can do, asked as a newcomer to the app or with "những thủ tục nào".
        ("ban giup duoc nhung thu tuc nao", "Xin chào!"),
        ("chào cháu, bác mới dùng zalo, hỏi cái gì ở đây được", "Xin chào!"),
    ],
)
async def test_desk_basics_come_from_the_config(engine: Engine, question: str, expected: str | tuple[str, ...]) -> None:
    response = await ask(engine, question)
    assert response.intent is Intent.HELP
    assert text_of(response).startswith(expected)


async def test_a_greeting_to_an_older_person_still_names_no_procedure(engine: Engine) -> None:
    # "chào cháu" is a greeting; the "cháu" of a question after it still counts.
    response = await ask(engine, "chào cháu, làm khai sinh cho cháu ở đâu")
    assert response.intent is Intent.PROCEDURE and top(response) == "khai-sinh"


async def test_a_desk_word_beside_a_procedure_leaves_the_procedure_question(engine: Engine) -> None:
    response = await ask(engine, "khai sinh thứ 7 có nộp được không")
    assert response.intent is Intent.PROCEDURE and top(response) == "khai-sinh"


@pytest.mark.parametrize(("typed", "position"), [("Mẫu đơn", None), ("mẫu đơn thôi", None), ("cái thứ hai", 1), ("cái cuối", -1)])
async def test_a_typed_answer_picks_from_the_choices_offered(engine: Engine, typed: str, position: int | None) -> None:
    offered = (await ask(engine, "chứng thực bản sao")).replies[0].choices
    expected = next(c for c in offered if c.label == "Mẫu đơn") if position is None else offered[position]
    picked = await ask(engine, typed)
    pressed = await engine.handle(Incoming("test", "u1", "other", expected.label, choice=expected.data))
    assert picked.replies[0].text == pressed.replies[0].text


async def test_a_standing_label_typed_back_does_what_it_says(engine: Engine) -> None:
    response = await ask(engine, "danh sach thu tuc")
    assert text_of(response) == "Chọn lĩnh vực:"


async def test_a_bundle_answers_every_question_in_one_forwardable_message(engine: Engine) -> None:
    text = "Thôn 3 nhờ hỏi:\n1) làm giấy chứng tử cần gì\n2) chứng thực bản sao mất bao nhiêu tiền\n3) giá phân bón hôm nay"
    response = await ask(engine, text, forwarded=True)
    assert len(response.replies) == 1
    reply = response.replies[0].text
    assert reply.startswith("Tin nhắn có 3 câu hỏi")
    assert "1) «làm giấy chứng tử cần gì»\n• Đăng ký khai tử" in reply
    assert "2) «chứng thực bản sao mất bao nhiêu tiền»\n• Chứng thực bản sao từ bản chính\nLệ phí:" in reply
    assert "3) «giá phân bón hôm nay»\nChưa rõ câu này hỏi thủ tục nào" in reply
    assert "Về câu hỏi:" not in reply  # each part is quoted already
    assert [c.data for c in response.replies[0].choices] == ["p:khai-tu", "p:chung-thuc-ban-sao"]


async def test_a_status_code_beside_a_procedure_question_answers_both(desk_engine: Engine) -> None:
    response = await ask(desk_engine, "hồ sơ 261119-0013 đến đâu rồi, với lại làm khai tử cần gì")
    reply = response.replies[0].text
    assert reply.startswith("Tin nhắn có 2 câu hỏi")
    assert "1) Hồ sơ 000.00.14.H56-261119-0013" in reply
    assert "2) • Đăng ký khai tử\nGiấy tờ cần chuẩn bị" in reply


async def test_after_a_status_answer_follow_ups_are_about_the_dossiers_procedure(desk_engine: Engine) -> None:
    status = await ask(desk_engine, "tra cứu hồ sơ 261119-0013")  # yêu cầu bổ sung, mai táng
    where = await ask(desk_engine, "nộp bổ sung ở đâu")
    fee = await ask(desk_engine, "thế còn lệ phí?")
    assert status.intent is Intent.STATUS and status.matches[0].id == "ho-tro-mai-tang"
    assert (top(where), where.aspect) == ("ho-tro-mai-tang", Aspect.WHERE)
    assert (top(fee), fee.aspect) == ("ho-tro-mai-tang", Aspect.FEE)


async def test_a_new_topic_replaces_the_old_and_an_earlier_one_can_be_resumed(engine: Engine) -> None:
    assert top(await ask(engine, "khai tử cần giấy tờ gì")) == "khai-tu"
    assert top(await ask(engine, "đăng ký kết hôn mất bao lâu")) == "ket-hon"
    assert top(await ask(engine, "quay lại vụ khai tử")) == "khai-tu"
    poor = await ask(engine, "lam ho ngheo can gi")
    assert top(poor) == "cong-nhan-ho-ngheo"
    assert top(await ask(engine, "thế còn lệ phí")) == "cong-nhan-ho-ngheo"


async def test_giai_quyet_in_a_follow_up_is_about_time_not_a_procedure(engine: Engine) -> None:
    await ask(engine, "đăng ký kết hôn cần gì")
    time = await ask(engine, "thời gian giải quyết bao lâu")
    assert (top(time), time.aspect) == ("ket-hon", Aspect.TIME)


async def test_after_a_refusal_the_earlier_topic_is_still_there(engine: Engine) -> None:
    await ask(engine, "làm giấy chứng tử cho bố cần gì")
    refused = await ask(engine, "giá vàng hôm nay bao nhiêu")
    assert refused.intent is Intent.UNKNOWN
    fee = await ask(engine, "còn lệ phí thì sao")
    assert (top(fee), fee.aspect) == ("khai-tu", Aspect.FEE)


async def test_a_short_correction_is_read_within_the_topics_field(engine: Engine) -> None:
    assert top(await ask(engine, "chứng thực bản sao")) == "chung-thuc-ban-sao"
    corrected = await ask(engine, "chữ ký thôi")
    assert top(corrected) == "chung-thuc-chu-ky"


async def test_many_dossiers_come_as_a_compact_list_with_details_on_request(desk_engine: Engine) -> None:
    listing = await ask(desk_engine, "hồ sơ 261119-0013, 261126-0010, 261128-0002, 261118-0011, 261127-0020 đến đâu rồi")
    detail_choice = listing.replies[0].choices[0]
    detail = await desk_engine.handle(Incoming("test", "u1", "c1", detail_choice.label, choice=detail_choice.data))
    assert listing.replies[0].text.startswith("Tình trạng 5 hồ sơ:") and len(listing.replies[0].text) < 700
    assert detail.replies[0].text.startswith("Hồ sơ 000.00.14.H56-261119-0013\nThủ tục:")


async def test_a_question_naming_the_common_case_gets_no_deciding_question(engine: Engine) -> None:
    named = await ask(engine, "chứng thực bản sao")
    assert top(named) == "chung-thuc-ban-sao" and "❓" not in named.replies[0].text
    vague = await ask(engine, "xin bản sao", chat="c2")
    assert "❓" in vague.replies[0].text  # "a copy" of what? the family's question tells


@pytest.mark.parametrize("question", ["bọn em định cưới tháng sau", "tụi mình sắp cưới thì làm giấy gì"])
async def test_a_plan_to_marry_is_the_marriage_registration(engine: Engine, question: str) -> None:
    assert top(await ask(engine, question)) == "ket-hon"


@pytest.mark.parametrize("question", ["đám cưới bạn thân nên mừng bao nhiêu", "kể chuyện cười đi"])
async def test_a_wedding_party_or_a_joke_is_not_a_marriage_question(engine: Engine, question: str) -> None:
    assert (await ask(engine, question)).intent is Intent.UNKNOWN
