"""Typed answers to the bot's own questions: yes or no to a family's deciding question
or to "Có phải ông/bà hỏi về ...?", a short description of the case; and long
descriptions the bot places but scores low are confirmed, not refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue import Engine
from bot.errors import CatalogueError
from bot.messages import Aspect, Incoming, Intent, Response
from bot.procedures.catalogue import Catalogue, load_catalogue
from bot.procedures.normalize import Normalizer
from bot.procedures.lexicon import Lexicon
from bot.procedures.wording import CHOICE_MENU

ROOT = Path(__file__).resolve().parent.parent


async def ask(engine: Engine, text: str, chat: str = "c1") -> Response:
    return await engine.handle(Incoming("test", "u1", chat, text))


def top(response: Response) -> str | None:
    return response.matches[0].id if response.matches else None


def choices(response: Response) -> list[str]:
    return [c.data for r in response.replies for c in r.choices]


@pytest.mark.parametrize(
    ("first", "answer", "family_default", "meant"),
    [
        # "Is one of you a foreigner?" — yes: the foreign marriage.
        ("vợ chồng tôi muốn đăng ký kết hôn thì cần giấy tờ gì", "dạ có", "ket-hon", "ket-hon-nuoc-ngoai"),
        ("vợ chồng tôi muốn đăng ký kết hôn thì cần giấy tờ gì", "đúng rồi", "ket-hon", "ket-hon-nuoc-ngoai"),
        # "Is the record still in the commune's book?" — no: register it again.
        ("gks của con bị mất, xin lại thế nào", "không còn ạ", "trich-luc-ho-tich", "dang-ky-lai-khai-sinh"),
        ("gks của con bị mất, xin lại thế nào", "chưa", None, None),  # "chưa" is a no: same answer
    ],
)
async def test_yes_or_no_to_a_familys_question_picks_the_member_it_means(
    engine: Engine, first: str, answer: str, family_default: str | None, meant: str | None
) -> None:
    asked = await ask(engine, first)
    if family_default is not None:
        assert top(asked) == family_default
        assert any(d.startswith("p:") for d in choices(asked))  # the other members offered
    reply = await ask(engine, answer)
    assert reply.intent is Intent.PROCEDURE
    assert top(reply) == (meant or "dang-ky-lai-khai-sinh")


async def test_the_aspect_asked_carries_over_to_the_member_picked(engine: Engine) -> None:
    await ask(engine, "vợ chồng tôi muốn đăng ký kết hôn thì cần giấy tờ gì")
    reply = await ask(engine, "có ạ")
    assert top(reply) == "ket-hon-nuoc-ngoai" and reply.aspect is Aspect.DOCUMENTS
    then = await ask(engine, "mất bao lâu")
    assert top(then) == "ket-hon-nuoc-ngoai" and then.aspect is Aspect.TIME


async def test_a_short_description_picks_the_member_whose_case_it_describes(engine: Engine) -> None:
    await ask(engine, "đăng ký kết hôn cần những gì")
    reply = await ask(engine, "cả hai ở trong nước")
    assert top(reply) == "ket-hon" and reply.intent is Intent.PROCEDURE
    # An aspect question is a follow-up, not a description ("nộp ở đâu").
    await ask(engine, "xin trợ cấp cho người khuyết tật cần giấy tờ gì", chat="c2")
    where = await ask(engine, "nộp ở đâu", chat="c2")
    assert where.aspect is Aspect.WHERE


async def test_yes_and_no_mean_nothing_when_nothing_was_asked(engine: Engine) -> None:
    reply = await ask(engine, "có")
    assert reply.intent is not Intent.PROCEDURE


async def test_a_long_description_both_scorers_place_is_confirmed_not_refused(engine: Engine) -> None:
    text = "anh trai em bị tâm thần nặng, nhà không ai trông được, muốn gửi vào trung tâm của nhà nước nuôi"
    asked = await ask(engine, text)
    assert asked.intent is Intent.PROCEDURE and top(asked) == "tiep-nhan-vao-co-so-tro-giup-xa-hoi"
    assert asked.replies[0].text.startswith("Có phải ông/bà hỏi về thủ tục")
    assert choices(asked) == ["p:tiep-nhan-vao-co-so-tro-giup-xa-hoi", CHOICE_MENU]  # never a one-option list
    yes = await ask(engine, "đúng rồi ạ")
    assert top(yes) == "tiep-nhan-vao-co-so-tro-giup-xa-hoi" and yes.intent is Intent.PROCEDURE
    await ask(engine, text, chat="c2")
    no = await ask(engine, "không phải", chat="c2")
    assert no.intent is Intent.UNKNOWN


async def test_long_situations_get_a_short_list_but_out_of_scope_is_still_refused(engine: Engine) -> None:
    placed = await ask(engine, "thong bao tam ngung to hop tac can giay gi")
    assert placed.intent is Intent.PROCEDURE and top(placed) == "tam-ngung-to-hop-tac"
    for n, text in enumerate(["giá vàng hôm nay bao nhiêu", "xin học bổng du học nhật bản cho con ở đâu uy tín"]):
        assert (await ask(engine, text, chat=f"fresh{n}")).intent is Intent.UNKNOWN, text


def test_yes_no_words_come_from_the_lexicon() -> None:
    normalizer = Normalizer.default()
    lexicon = Lexicon.load(normalizer)
    said = {t: lexicon.yes_no(normalizer.tokens(t)) for t in ["có ạ", "dạ không", "ko", "chưa bác", "ừ", "thế còn lệ phí", "dạ không còn", "vâng đúng rồi"]}
    assert said == {
        "có ạ": True, "dạ không": False, "ko": False, "chưa bác": False, "ừ": True,
        "thế còn lệ phí": None, "dạ không còn": False, "vâng đúng rồi": True,
    }


def test_a_members_answer_must_be_yes_or_no(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "catalogue"
    shutil.copytree(ROOT / "procedures", folder, ignore=shutil.ignore_patterns(".cache"))
    path = folder / "families" / "dang-ky-ket-hon.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('answers: "có"', "answers: maybe", 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(folder)
    assert "answers" in str(err.value) and "dang-ky-ket-hon.yaml" in str(err.value)


def test_families_yes_no_answers_are_loaded(catalogue: Catalogue) -> None:
    family = catalogue.families["mat-giay-khai-sinh"]
    assert {m.id: m.answers for m in family.members}["dang-ky-lai-khai-sinh"] == "không"


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        # The variant named ("cấp lại") leads the common case (the first permit) by far.
        ("cap lai giay phep xay dung le phi bao nhieu", "cap-lai-giay-phep-xay-dung"),
        # Abbreviations of the catalogue's words, as notices write them.
        ("tam hoan nvqs can nop giay xac nhan gi", "tam-hoan-goi-nhap-ngu"),
    ],
)
async def test_a_named_variant_is_answered_not_the_familys_common_case(engine: Engine, text: str, meant: str) -> None:
    reply = await ask(engine, text)
    assert reply.intent is Intent.PROCEDURE and top(reply) == meant


async def test_of_two_fitting_families_the_one_with_the_best_entry_is_read(engine: Engine) -> None:
    # Old age is the context, the funeral grant the request: not old-age support.
    reply = await ask(engine, "bố tôi đang hưởng trợ cấp người cao tuổi, có được hỗ trợ mai táng không")
    assert top(reply) in ("ho-tro-mai-tang", "ho-tro-mai-tang-huu-tri-xa-hoi")
