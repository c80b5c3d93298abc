"""Normalisation: what people type on a phone becomes the same folded words."""

from __future__ import annotations

from bot.procedures.normalize import Normalizer, clean, fold

N = Normalizer.default()


def test_fold_removes_diacritics_case_and_punctuation() -> None:
    assert fold("Đăng ký KHAI SINH!!!") == "dang ky khai sinh"
    assert fold("giấy  tờ 😀 gì?") == "giay to gi"
    # A decomposed (NFD) string folds the same as a composed one.
    assert fold("Khai sinh\u0301") == fold("Khai sính")


def test_clean_keeps_diacritics_and_drops_control_characters() -> None:
    assert clean("  Đăng\u0000 ký\n khai sinh ") == "Đăng ký khai sinh"


def test_shorthand_expands_to_full_words() -> None:
    assert N.normalize("đk khai sinh") == "dang ky khai sinh"
    assert N.normalize("lm gks cho be mat bn tien") == "lam giay khai sinh cho be mat bao nhieu tien"
    assert N.normalize("ko dc") == "khong duoc"
    assert N.normalize("pho to cong chung cccd") == "photo cong chung can cuoc"


def test_longest_shorthand_key_wins() -> None:
    # Three-word keys before two-word keys before single words.
    assert N.normalize("chua bao gio dang ky") == "chua tung dang ky"
    assert N.normalize("lam khai sinh 3 trong 1") == "lam khai sinh lien thong"
    assert N.normalize("nguoi lao dong") == "nguoi lao dong"


def test_died_and_lost_are_told_apart() -> None:
    # "Mất" after a person means died; "thất lạc" and "bị mất" mean lost.
    assert N.normalize("bố tôi mới mất") == "bo toi moi chet"
    assert N.normalize("ông mất rồi") == "ong chet roi"
    assert N.normalize("giấy kết hôn bị thất lạc") == "giay ket hon bi mat"
    assert N.normalize("mất giấy chứng tử") == "mat giay chung tu"


def test_nationalities_add_the_concept_foreign() -> None:
    assert "nuoc ngoai" in N.normalize("chồng em người Nhật")
    assert "nuoc ngoai" in N.normalize("lấy chồng Hàn Quốc")
    assert "nuoc ngoai" not in N.normalize("người lao động")
    # A country's short name after "bên"/"người" is abroad; the word alone is not.
    for text in ("con sinh bên Nhật về", "vợ chồng người Mỹ", "mất bên Hàn", "lấy chồng bên Lào"):
        assert "nuoc ngoai" in N.normalize(text), text
    for text in ("hết hạn", "đứng thứ nhất", "bên trung tâm y tế"):
        assert "nuoc ngoai" not in N.normalize(text), text


def test_dossier_is_one_word() -> None:
    # "hồ sơ" must not meet "hộ" (hộ khẩu) or "sổ" (sổ đỏ).
    assert N.tokens("nộp hồ sơ") == ["nop", "hoso"]
    assert N.tokens("hs") == ["hoso"]


def test_typed_shorthand_with_two_letters_swapped() -> None:
    assert N.typed_tokens("mún lm gsk cho con") == N.tokens("mún lm gks cho con")
    assert N.typed_tokens("lanh bhhx 1 lan") == ["lanh", "bao", "hiem", "xa", "hoi", "1", "lan"]
    # Short keys and keys kept as themselves are not guessed at: "gọi" is not "giờ".
    assert N.typed_tokens("gọi nhập ngũ") == ["goi", "nhap", "ngu"]
    assert N.typed_tokens("ok") == ["ok"]
    # Catalogue text is read as written.
    assert N.tokens("gsk") == ["gsk"]


def test_the_shape_of_a_syllable() -> None:
    from bot.procedures.normalize import could_be_syllable

    for word in ("giay", "nghieng", "khuya", "huu", "mua", "xoong"):
        assert could_be_syllable(word), word
    for word in ("cann", "gj", "nhugn", "kyy", "giya", "dc"):
        assert not could_be_syllable(word), word
