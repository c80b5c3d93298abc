"""Keeping dossier holders' personal data out of replies and logs.

Replies show an applicant only as family name plus initials ("Nguyễn V. A."), never a
phone number or an address. Phone numbers serve only to check the last digits a user
types (:func:`phone_matches`).
"""

from __future__ import annotations

import hmac
import re

_NOT_DIGIT = re.compile(r"\D+")


def mask_name(full_name: str) -> str:
    """The family name and the initials of the other names: "Nguyễn Văn An" → "Nguyễn V. A.".

    An empty name gives "(không rõ tên)"; a single name gives its initial only.
    """
    words = [w for w in full_name.split() if any(c.isalpha() for c in w)]
    if not words:
        return "(không rõ tên)"
    initials = [f"{_first_letter(w)}." for w in words[1:]]
    if not initials:
        return f"{_first_letter(words[0])}."
    family = words[0]
    if family.isupper() or family.islower():  # exports in capitals: "NGUYỄN VĂN AN"
        family = family.capitalize()
    return " ".join([family, *initials])


def _first_letter(word: str) -> str:
    for c in word:
        if c.isalpha():
            return c.upper()
    return "?"  # pragma: no cover - words without letters are filtered out


def phone_digits(phone: str) -> str:
    """Only the digits of a phone number as typed or exported ("0912 345 678" → "0912345678")."""
    return _NOT_DIGIT.sub("", phone)


def phone_matches(phone_on_file: str, typed_digits: str, *, count: int = 3) -> bool:
    """Whether ``typed_digits`` are the last ``count`` digits of the phone on file.

    False when no phone is on file: then nothing can be verified.
    """
    on_file = phone_digits(phone_on_file)
    typed = phone_digits(typed_digits)
    if len(on_file) < count or len(typed) != count:
        return False
    return hmac.compare_digest(on_file[-count:], typed)
