"""The lexicon: which part of a procedure a question asks about, and which words name it."""

from __future__ import annotations

import pytest

from bot.procedures.lexicon import Lexicon
from bot.messages import Aspect
from bot.procedures.normalize import Normalizer

N = Normalizer.default()
L = Lexicon.load(N)


def aspects(text: str) -> list[Aspect]:
    return L.detect_aspects(N.tokens(text))


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("làm giấy khai sinh cần giấy tờ gì", Aspect.DOCUMENTS),
        ("đk kết hôn mất bn tiền", Aspect.FEE),
        ("bao lâu thì có giấy", Aspect.TIME),
        ("mất mấy ngày", Aspect.TIME),
        ("nộp ở đâu", Aspect.WHERE),
        ("khai sinh làm ở xã hay lên huyện", Aspect.WHERE),
        ("tờ khai mẫu nào", Aspect.FORMS),
        ("bà nội bao nhiêu tuổi thì được hưởng trợ cấp", Aspect.CONDITIONS),
        ("đối tượng nào được hỗ trợ", Aspect.CONDITIONS),
        ("làm trên vneid được không", Aspect.CONDITIONS),
        ("nhờ con nộp thay được không", Aspect.CONDITIONS),
        ("có cần cả hai vợ chồng đến không", Aspect.CONDITIONS),  # who must come, not papers
        ("có phải đến tận nơi không", Aspect.CONDITIONS),
        ("có thu tiền không", Aspect.FEE),
        ("nộp cho ai", Aspect.WHERE),  # who receives the file is where it is filed
        ("hồ sơ gửi cho ai", Aspect.WHERE),
        ("đơn hỗ trợ chi phí học tập nộp cho ai", Aspect.WHERE),  # "chi phí" in a name
    ],
)
def test_typical_aspects(text: str, aspect: Aspect) -> None:
    assert aspects(text)[0] is aspect


def test_cue_words_inside_names_are_not_aspects() -> None:
    # "chi phí mai táng" names a procedure; "đã có căn cước" is not "có cần ...".
    assert aspects("hỗ trợ chi phí mai táng") == []
    assert aspects("hỗ trợ chi phí học tập cho con") == []
    assert aspects("ông tôi đã có căn cước nhưng chưa có giấy khai sinh") == []
    # Whether both must be present is a condition, not a list of papers.
    assert aspects("đăng ký kết hôn có bắt buộc cả hai cùng có mặt không") == [Aspect.CONDITIONS]
    assert aspects("sổ đỏ lần đầu") == []


def test_strip_cues_keeps_the_naming_words() -> None:
    assert L.strip_cues(N.tokens("cho em hỏi làm giấy khai sinh cho con cần giấy tờ gì ạ")) == [
        "giay",
        "khai",
        "sinh",
    ]
    # Ambiguous folded words are never fillers: bản (sao), tử (khai tử), sao (sao y).
    assert L.strip_cues(N.tokens("xin bản sao")) == ["ban", "sao"]
    assert "tu" in L.strip_cues(N.tokens("khai tử"))


def test_followup_cues_count_only_at_the_start() -> None:
    assert L.is_followup(N.tokens("thế còn lệ phí?"))
    assert L.is_followup(N.tokens("à không, ý tôi là chứng thực chữ ký"))
    assert L.is_followup(N.tokens("vâng, thế cần giấy tờ gì"))
    # "con" (child) in the middle of a question is not "còn".
    assert not L.is_followup(N.tokens("làm giấy khai sinh cho con"))
    assert not L.is_followup(N.tokens("đăng ký nhận con nuôi"))


def test_greetings_help_and_status() -> None:
    assert L.is_greeting(N.tokens("xin chào"))
    assert L.is_greeting(N.tokens("bot này làm được gì"))
    assert not L.is_greeting(N.tokens("chào anh, làm khai sinh ở đâu"))
    assert L.asks_status(N.tokens("hồ sơ của tôi xong chưa"))
    assert not L.asks_status(N.tokens("hồ sơ khai sinh gồm những gì"))


def test_light_words_are_people_and_places() -> None:
    assert {"ong", "ba", "xa"} <= L.light_words
    assert "khai" not in L.light_words


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("bọn em định đăng ký kết hôn tháng sau", ["dang", "ky", "ket", "hon"]),
        ("tụi mình dự định làm khai sinh cho bé tuần tới", ["khai", "sinh", "be"]),
        # "cưới năm 1998" is when they married, not "cuối năm": kept.
        ("vợ chồng em cưới năm 1998", ["vo", "chong", "cuoi"]),
    ],
)
def test_pronouns_plans_and_times_name_no_procedure(text: str, kept: list[str]) -> None:
    assert L.strip_cues(N.tokens(text)) == kept


def test_a_question_about_a_word_and_a_question_clause() -> None:
    assert L.asks_word(N.tokens("giấy khai sinh tiếng Anh gọi là gì"))
    assert not L.asks_word(N.tokens("dịch giấy khai sinh sang tiếng Anh ở đâu"))
    assert L.asks_question(N.tokens("giờ làm ở đâu")) and not L.asks_question(N.tokens("tôi ly hôn rồi"))
    # "không", "chưa" ask only at the end of a clause; inside one they deny.
    assert L.asks_question(N.tokens("có mất phí không ạ")) and L.asks_question(N.tokens("xong chưa"))
    assert not L.asks_question(N.tokens("chưa đăng ký kết hôn")) and not L.asks_question(N.tokens("không có sổ hộ khẩu"))


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("đăng ký lại kết hôn cann nhung gj", Aspect.DOCUMENTS),
        ("so do bi mat roi lam lai can giya to gi", Aspect.DOCUMENTS),
        ("chung thuc chu ky can nhugn gi", Aspect.DOCUMENTS),
    ],
)
def test_a_cue_typed_with_a_slip_still_asks_its_aspect(text: str, aspect: Aspect) -> None:
    assert aspects(text) == [aspect]


@pytest.mark.parametrize("text", ["Em muốn chứng thực hợp đồng mua bán nhà", "đăng ký biển số cho xe máy mới mua"])
def test_real_words_are_never_mended_into_a_cue(text: str) -> None:
    assert aspects(text) == []  # "mua" is a word, not "mẫu" misspelt


def test_a_yes_opening_or_closing_a_longer_message_is_found() -> None:
    assert L.yes_no_head(N.tokens("đúng rồi, cần giấy gì")) == (True, ["can", "giay", "gi"])
    assert L.yes_no_head(N.tokens("à còn một việc nữa, làm ở đâu"))[0] is None  # "còn" opens a follow-up
    assert L.yes_no_tail(N.tokens("sổ ở xã vẫn còn")) == (True, ["so", "o", "xa"])
    assert L.yes_no_tail(N.tokens("có được không"))[0] is None  # a question ends in "không", it is no answer


def test_negations_missing_papers_and_resumptions_are_read_at_their_place() -> None:
    assert L.negates(N.tokens("dạ không phải, em hỏi khai tử"))
    assert not L.negates(N.tokens("khai tử không phải nộp phí à"))
    assert L.lacks_paper(N.tokens("em không có sổ hộ khẩu thì sao"))
    assert not L.lacks_paper(N.tokens("em không có sổ hộ khẩu"))  # a statement, not a question about the topic
    assert L.resumes(N.tokens("quay lại vụ khai tử"))
    assert L.without_resume(N.tokens("quay lại cái lúc nãy")) == []
