"""The matcher on typical questions: the right entry first, close pairs told apart,
out-of-scope questions refused."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from bot.procedures.catalogue import Catalogue, Procedure
from bot.config import MatchingConfig
from bot.procedures.lexicon import Lexicon
from bot.procedures.matcher import Decision, Matcher
from bot.procedures.normalize import Normalizer


@pytest.fixture(scope="module")
def matcher(catalogue: Catalogue) -> Matcher:
    normalizer = Normalizer.default()
    return Matcher(catalogue, normalizer, Lexicon.load(normalizer), MatchingConfig())


def top(matcher: Matcher, text: str) -> str | None:
    ranked = matcher.rank(text)
    return ranked[0].procedure.id if ranked else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mún lm gks cho con thì lm ở đâu z", "khai-sinh"),
        ("đk kết hôn mất bao nhiêu tiền", "ket-hon"),
        ("photo công chứng cccd bao nhiêu 1 trang", "chung-thuc-ban-sao"),
        ("khai xinh cho con", "khai-sinh"),  # sound-alike spelling
        ("lam can cuoc o dau", "can-cuoc"),  # a referral
    ],
)
def test_typical_questions_are_answered(matcher: Matcher, text: str, expected: str) -> None:
    ranked = matcher.rank(text)
    assert ranked[0].procedure.id == expected
    assert matcher.decide(ranked) is Decision.ANSWER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A copy of a registered paper is trích lục, not the registration itself...
        ("xin bản sao giấy kết hôn", "trich-luc-ho-tich"),
        ("đăng ký kết hôn", "ket-hon"),
        # ...and re-registration after both paper and register are lost is its own one.
        ("giấy đăng ký kết hôn bị mất, sổ ở xã cũng không còn, đăng ký lại kết hôn", "dang-ky-lai-ket-hon"),
        # "Mất" after a person means died (khai tử), not a lost paper.
        ("mẹ tôi mới mất, làm giấy chứng tử cần gì", "khai-tu"),
        ("đăng ký lại khai tử khi sổ hộ tịch đã mất", "dang-ky-lai-khai-tu"),
        # A foreign parent, said by nationality.
        ("khai sinh cho con có bố là người Nhật", "khai-sinh-nuoc-ngoai"),
        ("kết hôn với người Trung Quốc", "ket-hon-nuoc-ngoai"),
        # "3 trong 1" is the combined procedure.
        ("thủ tục 3 trong 1 cho bé sơ sinh", "lien-thong-khai-sinh"),
        ("khai tử và xóa hộ khẩu cho người đã mất", "lien-thong-khai-tu"),
    ],
)
def test_close_pairs(matcher: Matcher, text: str, expected: str) -> None:
    assert top(matcher, text) == expected


@pytest.mark.parametrize(
    "text",
    ["giá lúa hôm nay bao nhiêu", "thời tiết ngày mai", "cách nấu phở bò", "lịch cắt điện thôn 5"],
)
def test_out_of_scope_is_refused(matcher: Matcher, text: str) -> None:
    assert matcher.decide(matcher.rank(text)) is Decision.NONE


def test_a_word_said_once_matches_a_repeated_phrase_word_once(matcher: Matcher) -> None:
    # "chuyển" once covers only half of the two "chuyển" of "chuyển trợ cấp khi chuyển nhà".
    index = matcher.index
    phrase = index.phrase_tokens.index(("chuyen", "tro", "cap", "chuyen", "nha"))
    assert index.posting_uses["chuyen"][index.postings["chuyen"].index(phrase)] == 2
    assert index.max_uses["chuyen"] >= 2


def test_short_words_are_not_typo_corrected(matcher: Matcher) -> None:
    # "loa" is not "lua" (lúa) or "hoa", "tha" (thả) is not "thai".
    assert matcher.unknown_words("loa tha") == ["loa", "tha"]
    assert matcher.unknown_words("khai xinh") == []


def test_explains_and_relates(matcher: Matcher) -> None:
    assert matcher.explains("lien-thong-khai-tu", "khai tử") == 1.0
    assert matcher.explains("khai-tu", "xóa thường trú") < 0.5
    assert matcher.relates("khai-sinh", "thế còn lệ phí") == 1.0  # no naming words
    assert matcher.relates("chung-thuc-hop-dong", "giá vàng") == 0.0


def test_ranking_is_fast(matcher: Matcher) -> None:
    questions = ["dk khai sinh cho be can gi", "photo cong chung o dau", "giá vàng hôm nay"] * 100
    matcher.rank("warm up the typo cache")
    start = time.perf_counter()
    for q in questions:
        matcher.rank(q)
    assert (time.perf_counter() - start) / len(questions) < 0.005


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Typos inside short syllables, confirmed by the neighbouring word.
        ("đăg kí khai sih", "khai-sinh"),
        ("khai sjnh", "khai-sinh"),
        ("kết hun", "ket-hon"),
        ("kết hom", "ket-hon"),  # "hom" (hôm) is a filler, but "kết" never stands alone
        ("dang ki ket hn", "ket-hon"),
        # A real word one slip from the word that nearly always precedes the next one.
        ("to khai dang ky lai ke hon", "dang-ky-lai-ket-hon"),
        ("đăn ký lại kết hôn làm ở đâu", "dang-ky-lai-ket-hon"),
        # The paper left unsaid: "chứng tử" is "giấy chứng tử".
        ("chung tu", "khai-tu"),
        # Glued words, and a space one letter off.
        ("dangky khaisinh", "khai-sinh"),
        ("kha isinh cho con", "khai-sinh"),
        ("dan gky ket hon", "ket-hon"),
        # Dropped, doubled and swapped letters.
        ("dang ky kett hon", "ket-hon"),
        ("khai sinhh cho con", "khai-sinh"),
        ("dang ky igam ho", "giam-ho"),
        ("xin trcih luc khai sinh", "trich-luc-ho-tich"),
        # A sound-alike spelling with a slip on top ("xieh": x for s, e for n).
        ("khai xieh cho con", "khai-sinh"),
        # A correction that completes a shorthand pair brings its meaning (foreigner).
        ("kết hôn với người tring quốc", "ket-hon-nuoc-ngoai"),
    ],
)
def test_typos_are_answered_with_the_right_entry(matcher: Matcher, text: str, expected: str) -> None:
    ranked = matcher.rank(text)
    assert ranked and ranked[0].procedure.id == expected, [(m.procedure.id, m.score) for m in ranked]
    assert matcher.decide(ranked) is Decision.ANSWER


@pytest.mark.parametrize(
    "text",
    [
        "giá xăng hôm nay",  # "xăng" is not "làng" of "già làng": a far first letter needs both sides
        "giá lúa hôm nay",  # "giá" is not "đất" (its sound-alike "da" plus a letter)
        "mua chung cư cần giấy tờ gì",  # "cư" is not "tử" of "chứng tử"
        "kết quả xổ số",  # "quả" is not "quân": a real word changes only by a slip of the finger
        "mẫu tờ khai nào",  # "khai" of the cue "tờ khai" does not want a partner
    ],
)
def test_a_real_short_word_is_not_corrected_into_a_procedure(matcher: Matcher, text: str) -> None:
    assert matcher.decide(matcher.rank(text)) is Decision.NONE


def test_a_real_pair_is_kept(matcher: Matcher) -> None:
    # "kết hợp" is a pair of the catalogue too: it is not "corrected" to "kết hôn".
    assert [w for w, _ in matcher.corrected_words("kết hợp khai sinh và nhận cha con")][:2] == ["ket", "hop"]
    assert top(matcher, "kết hợp khai sinh và nhận cha con") == "khai-sinh-nhan-cha-me-con"
    # "đang" (folded "dang") followed by another word stays what it is.
    assert [w for w, _ in matcher.corrected_words("tôi đang làm khai sinh")] == ["dang", "khai", "sinh"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # Real words next to a word that usually has another partner stay as they are:
        ("hợp đồng chuyển nhượng đã chứng thực", "da"),  # not "xa" (chuyển nhượng xã)
        ("hợp đồng bị sai, sửa sao", "sao"),  # not "sai"
        ("giấy chứng tử của bà mất từ lâu", "ba"),  # not "ban"
        ("văn bằng của giáo viên", "giao"),  # not "giai" of "hòa giải viên" (only half the "... viên")
    ],
)
def test_real_words_beside_catalogue_words_are_kept(matcher: Matcher, text: str, kept: str) -> None:
    words = [w for w, _ in matcher.corrected_words(text)]
    assert kept in words or kept not in matcher.query_tokens(text), words



def test_catalogue_text_is_read_as_written(matcher: Matcher, catalogue: Catalogue) -> None:
    # Correctly spelt text is never "corrected": every name, alias and document of the
    # bundled catalogue keeps its words.
    changed = []
    for proc in catalogue:
        for text in (proc.name, *proc.aliases, *proc.documents):
            if [w for w, _ in matcher.corrected_words(text)] != matcher.query_tokens(text):
                changed.append(text)
    assert changed == []


def test_skipping_phrases_that_cannot_be_kept_changes_no_ranking(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The word scorer stops scoring phrases once none can enter the entries kept: the
    rankings (entries, order, scores) are exactly those of scoring every phrase."""
    import yaml
    from pathlib import Path

    evalset = yaml.safe_load((Path(__file__).parents[1] / "eval" / "questions.yaml").read_text(encoding="utf-8"))
    texts = [item["q"] for item in evalset][:200]
    pruned = [[(m.procedure.id, m.score) for m in matcher.rank_words(t, 10)] for t in texts]
    import bot.procedures.matcher as module

    monkeypatch.setattr(module, "PRUNE_EVERY", 10**9)  # the floor is never raised: every phrase scored
    full = [[(m.procedure.id, m.score) for m in matcher.rank_words(t, 10)] for t in texts]
    assert sum(1 for p in pruned if p) > 150
    assert pruned == full


def test_a_long_description_with_a_far_leader_is_offered_not_refused(matcher: Matcher) -> None:
    """Below the answering score, a best entry far ahead of every other is worth a
    confirmation even when the character n-grams do not single it out."""
    text = "bố em là thương binh, giờ muốn xin xe lăn"
    ranked = matcher.rank(text)
    assert matcher.decide(ranked) is Decision.NONE
    assert ranked[0].score - ranked[1].score >= 20
    assert [m.procedure.id for m in matcher.tentative(text, ranked)] == ["phuong-tien-tro-giup-nguoi-co-cong"]
    # Out of scope, nothing stands out: still refused.
    for text in ("thời tiết ngày mai thế nào", "giá vàng hôm nay"):
        assert matcher.tentative(text, matcher.rank(text)) == []


def test_an_alias_that_differs_from_another_entry_only_by_a_place_is_not_its_own() -> None:
    """'làm khai sinh không cần lên xã' strips to 'khai sinh xã': it no longer tells the
    mobile registration apart, so a plain birth question at the commune stays plain."""

    def entry(pid: str, name: str, *aliases: str) -> Procedure:
        return Procedure(pid, name, "Hộ tịch", aliases, "UBND xã", ("test",), dt.date(2026, 12, 1))

    catalogue = Catalogue(
        {
            "khai-sinh": entry("khai-sinh", "Đăng ký khai sinh", "khai sinh"),
            "khai-sinh-luu-dong": entry(
                "khai-sinh-luu-dong", "Đăng ký khai sinh lưu động", "làm khai sinh không cần lên xã"
            ),
        }
    )
    normalizer = Normalizer.default()
    matcher = Matcher(catalogue, normalizer, Lexicon.load(normalizer), MatchingConfig())
    ranked = matcher.rank_words("làm khai sinh cho con ở xã")
    assert ranked[0].procedure.id == "khai-sinh"
    assert all(m.procedure.id != "khai-sinh-luu-dong" or m.score < ranked[0].score - 20 for m in ranked)
    index = matcher.index
    own = [index.phrase_tokens[k] for k, i in enumerate(index.phrase_proc) if index.proc_ids[i] == "khai-sinh-luu-dong"]
    assert ("khai", "sinh", "xa") not in own and own  # its name stays
