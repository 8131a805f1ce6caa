"""Identifier check digits (hub.wire.validators) and the region ladder (hub.trust.regions)."""

from __future__ import annotations

import pytest

from hub.trust.regions import ancestors, describe, is_region, is_within, level
from hub.wire.validators import (
    USCC_CHARSET,
    check_credit_code,
    check_id_number,
    check_sha256,
    id_check_char,
    uscc_check_char,
)

# -- GB 32100-2015 统一社会信用代码 --------------------------------------------------------------

#: Published codes of well-known organisations (business licences / public registers).
PUBLISHED_USCC = [
    "91350100M000100Y43",  # the code cited in the brief; its check character is 3
    "914403001922038216",  # 华为技术有限公司
    "9144030071526726XG",  # 深圳市腾讯计算机系统有限公司
    "91330100716105852F",  # 阿里巴巴(中国)有限公司
]
#: Codes the example payloads use.
EXAMPLE_USCC = ["91350582MA2Y7K3P4G", "12350582MB0123456F"]


def uscc_reference(first17: str) -> str:
    """GB 32100 clause 5.3 spelled out: C18 = 31 - MOD(Σ Ci×Wi, 31), Wi = 3^(i-1) mod 31."""
    values = {c: i for i, c in enumerate("0123456789ABCDEFGHJKLMNPQRTUWXY")}
    total = sum(values[c] * pow(3, i, 31) for i, c in enumerate(first17))
    return "0123456789ABCDEFGHJKLMNPQRTUWXY"[(31 - total % 31) % 31]


@pytest.mark.parametrize("code", PUBLISHED_USCC + EXAMPLE_USCC)
def test_published_credit_codes_are_valid(code: str) -> None:
    assert check_credit_code(code) is None
    assert uscc_check_char(code[:17]) == code[17] == uscc_reference(code[:17])


def test_charset_has_31_characters_without_i_o_s_v_z() -> None:
    assert len(USCC_CHARSET) == len(set(USCC_CHARSET)) == 31
    assert not set("IOSVZ") & set(USCC_CHARSET)


@pytest.mark.parametrize("code", PUBLISHED_USCC + EXAMPLE_USCC)
def test_every_other_check_character_fails(code: str) -> None:
    wrong = [c for c in USCC_CHARSET if c != code[17]]
    assert len(wrong) == 30
    for c in wrong:
        problem = check_credit_code(code[:17] + c)
        assert problem is not None
        assert "check character does not match" in problem
        # A dead letter must not teach its reader the right check character.
        assert code[17] not in problem.replace("GB 32100", "")


def test_any_single_substitution_in_the_first_17_is_detected() -> None:
    code = PUBLISHED_USCC[0]
    for pos in range(17):
        for c in USCC_CHARSET:
            if c == code[pos] or (2 <= pos < 8 and not c.isdigit()):
                continue
            assert check_credit_code(code[:pos] + c + code[pos + 1 :]) is not None, (pos, c)


def test_check_char_agrees_with_the_reference_on_many_prefixes() -> None:
    for n in range(500):
        digits = f"{n * 7919:015d}"
        first17 = "91" + digits[:4] + USCC_CHARSET[n % 31] + digits[4:14]
        assert uscc_check_char(first17) == uscc_reference(first17)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y4", "18 characters, has 17"),
        ("91350100M000100Y433", "18 characters, has 19"),
        ("91350100M000100I43", "outside GB 32100"),
        ("91350100m000100Y43", "outside GB 32100"),
        ("913501A0M000100Y43", "characters 3-8 must be the region code digits"),
        ("91350100M000100Y44", "check character does not match"),
    ],
)
def test_bad_credit_codes_say_what_is_wrong(code: str, fragment: str) -> None:
    problem = check_credit_code(code)
    assert problem is not None
    assert fragment in problem


# -- GB 11643-1999 公民身份号码 -----------------------------------------------------------------


def id_reference(first17: str) -> str:
    """ISO 7064 MOD 11-2: weights 2^(17-i) mod 11, check value (12 - Σ mod 11) mod 11, 10 → X."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


VALID_IDS = [
    "11010519491231002X",  # the worked example of GB 11643-1999, check character X
    "350582198001011237",  # example payloads
    "350582197503152019",
    "50023520000229001X",  # 29 February of a leap year, check character X
]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_id_numbers(number: str) -> None:
    assert check_id_number(number) is None
    assert id_check_char(number[:17]) == number[17] == id_reference(number[:17])


def test_x_check_digit_is_accepted_and_lowercase_x_is_not() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert check_id_number("11010519491231002X") is None
    assert check_id_number("11010519491231002x") is not None


@pytest.mark.parametrize("number", VALID_IDS)
def test_every_other_id_check_character_fails(number: str) -> None:
    for c in "0123456789X":
        if c != number[17]:
            problem = check_id_number(number[:17] + c)
            assert problem is not None
            assert "check character does not match" in problem


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19001301", "19800000", "19800132", "19000229", "20230229", "00000101"],
)
def test_impossible_birth_dates_are_rejected_whatever_the_check_digit(birth: str) -> None:
    first17 = "350582" + birth + "123"
    number = first17 + id_reference(first17)  # a correct check digit: the date alone is wrong
    assert check_id_number(number) == "ID number has an impossible birth date"


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("35058219800101123", "18 characters, has 17"),
        ("3505821980010112377", "18 characters, has 19"),
        ("35058219800101123A", "17 digits followed by a digit or X"),
        ("3505821980O1011237", "17 digits followed by a digit or X"),
        ("X50582198001011237", "17 digits followed by a digit or X"),
    ],
)
def test_malformed_id_numbers(number: str, fragment: str) -> None:
    problem = check_id_number(number)
    assert problem is not None
    assert fragment in problem


# -- other field checks --------------------------------------------------------------------------


def test_sha256_format() -> None:
    good = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert check_sha256(good) is None
    assert check_sha256("0" * 64) is None
    for bad in (good.upper(), good[:-1], good + "0", good[:-1] + "g", "", f" {good[1:]}"):
        assert check_sha256(bad) == "sha256 must be 64 lowercase hex digits", bad


# -- GB/T 2260 regions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("350582", ["350500", "350000", "100000"]),
        ("350500", ["350000", "100000"]),
        ("350000", ["100000"]),
        ("100000", []),
        ("500235", ["500200", "500000", "100000"]),
        ("420112", ["420100", "420000", "100000"]),
    ],
)
def test_ancestors_nearest_first(code: str, expected: list[str]) -> None:
    assert ancestors(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("350000", "province"), ("350500", "city"), ("350582", "county"), ("500235", "county")],
)
def test_level(code: str, expected: str) -> None:
    assert level(code) == expected


def test_is_within_is_strict_and_follows_the_ladder() -> None:
    assert is_within("350582", "350500")
    assert is_within("350582", "350000")
    assert is_within("350500", "350000")
    assert not is_within("350582", "350582")
    assert not is_within("350500", "350582")
    assert not is_within("350000", "350500")
    assert not is_within("350582", "350600")  # a sibling city
    assert not is_within("350582", "370000")  # another province
    assert is_within("500235", "500000")


@pytest.mark.parametrize("code", ["350582", "350500", "350000", "500235", "110101"])
def test_well_formed_regions(code: str) -> None:
    assert is_region(code)


@pytest.mark.parametrize(
    "code", ["", "35058", "3505820", "050582", "000000", "35058a", "３５０５８２", "35 582"]
)
def test_malformed_regions(code: str) -> None:
    assert not is_region(code)


def test_describe_names_known_regions() -> None:
    assert describe("350582") == "350582 晋江市"
    assert describe("350581") == "350581 石狮市"
    assert describe("350526") == "350526"  # a county the notices do not name


# -- regressions: non-ASCII digits and trailing newlines ------------------------------------------


@pytest.mark.parametrize("number", ["²50582198001011237", "３50582198001011237"])
def test_id_number_with_non_ascii_digits_is_rejected_not_crashing(number: str) -> None:
    assert check_id_number(number) == "ID number must be 17 digits followed by a digit or X"


def test_id_number_born_in_the_future_is_rejected() -> None:
    body = "35058229990101123"
    assert check_id_number(body + id_check_char(body)) == "ID number has an impossible birth date"


def test_trailing_newline_is_not_a_region_nor_a_sha256() -> None:
    assert not is_region("350582\n")
    assert check_sha256("a" * 64 + "\n") is not None


@pytest.mark.parametrize(
    ("code", "expected"),
    [("350000", "35"), ("350500", "3505"), ("350582", "350582"), ("100000", "")],
)
def test_a_region_prefix_covers_the_region_and_everything_under_it(
    code: str, expected: str
) -> None:
    from hub.trust.regions import prefix

    assert prefix(code) == expected
    assert all(c.startswith(prefix(code)) for c in ("350582",) if code in ("350000", "350500"))
