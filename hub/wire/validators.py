"""Check-digit validation of the identifiers that appear in clues, and other field checks.

Pure functions; each returns None when the value is valid, or a sentence saying what is wrong
(so the router can put it in a dead letter's detail).
"""

from __future__ import annotations

import re
from datetime import date

# GB 32100-2015 统一社会信用代码: 31 characters, no I O S V Z.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11643-1999 公民身份号码: ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# str.isdigit() accepts "²" and full-width digits; identifiers are ASCII only.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(value: str, length: int | None = None) -> bool:
    return bool(_ASCII_DIGITS.fullmatch(value)) and (length is None or len(value) == length)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def check_credit_code(code: str) -> str | None:
    if len(code) != 18:
        return f"credit code must have 18 characters, has {len(code)}"
    bad = sorted({c for c in code if c not in USCC_CHARSET})
    if bad:
        return "credit code has characters outside GB 32100"
    if not is_ascii_digits(code[2:8]):
        return "credit code characters 3-8 must be the region code digits"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return "credit code check character does not match (GB 32100)"
    return None


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_id_number(number: str) -> str | None:
    if len(number) != 18:
        return f"ID number must have 18 characters, has {len(number)}"
    if not _ID_SHAPE.fullmatch(number):
        return "ID number must be 17 digits followed by a digit or X"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "ID number has an impossible birth date"
    if born > date.today() or born.year < 1900:
        return "ID number has an impossible birth date"
    expected = id_check_char(number[:17])
    if number[17] != expected:
        return "ID number check character does not match (GB 11643)"
    return None


def check_sha256(value: str) -> str | None:
    if not _SHA256.fullmatch(value):
        return "sha256 must be 64 lowercase hex digits"
    return None
