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
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def check_credit_code(code: str) -> str | None:
    if len(code) != 18:
        return f"credit code must have 18 characters, has {len(code)}"
    bad = sorted({c for c in code if c not in USCC_CHARSET})
    if bad:
        return f"credit code has characters outside GB 32100: {''.join(bad)}"
    if not code[2:8].isdigit():
        return "credit code characters 3-8 must be the region code digits"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"credit code check character is {code[17]}, expected {expected}"
    return None


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_id_number(number: str) -> str | None:
    if len(number) != 18:
        return f"ID number must have 18 characters, has {len(number)}"
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "ID number must be 17 digits followed by a digit or X"
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "ID number has an impossible birth date"
    expected = id_check_char(number[:17])
    if number[17] != expected:
        return f"ID number check character is {number[17]}, expected {expected}"
    return None


def check_sha256(value: str) -> str | None:
    if not _SHA256.match(value):
        return "sha256 must be 64 lowercase hex digits"
    return None


def mask(identifier: str) -> str:
    """Keep only enough of an identifier to tell records apart in logs: 3501**********123X."""
    if len(identifier) <= 8:
        return "*" * len(identifier)
    return identifier[:4] + "*" * (len(identifier) - 8) + identifier[-4:]
