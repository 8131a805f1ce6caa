"""GB/T 2260 six-digit region codes: validation and the county → city → province ladder."""

from __future__ import annotations

import re

_CODE = re.compile(r"[1-9][0-9]{5}")

#: The national level (国家医疗保障局 and other national bodies), above every province.
NATIONAL = "100000"

#: Regions named in the notices of docs/domain.md, for friendlier output; any well-formed code
#: is accepted.
KNOWN_NAMES: dict[str, str] = {
    "100000": "全国",
    "350000": "福建省",
    "350500": "泉州市",
    "350502": "鲤城区",
    "350503": "丰泽区",
    "350521": "惠安县",
    "350581": "石狮市",
    "350582": "晋江市",
    "350583": "南安市",
    "370000": "山东省",
    "371300": "临沂市",
    "420000": "湖北省",
    "420100": "武汉市",
    "420112": "武汉市东西湖区",
    "500000": "重庆市",
    "500235": "重庆市云阳县",
}


def is_region(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def level(code: str) -> str:
    """'national', 'province', 'city' or 'county' by the code's trailing zeros."""
    if code == NATIONAL:
        return "national"
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def ancestors(code: str) -> list[str]:
    """The supervising levels above ``code``, nearest first: 350582 → [350500, 350000, 100000].

    Municipalities have no real city level (500235 → 500200 is not an office), but trying it
    costs one directory lookup and keeps the rule arithmetic.
    """
    out: list[str] = []
    for parent in (code[:4] + "00", code[:2] + "0000"):
        if parent != code and parent not in out and (not out or parent != out[-1]):
            out.append(parent)
    if code != NATIONAL:
        out.append(NATIONAL)
    return out


def is_within(code: str, ancestor: str) -> bool:
    """True when ``code`` lies strictly below ``ancestor`` in the hierarchy."""
    return ancestor in ancestors(code)


def prefix(code: str) -> str:
    """The code prefix shared by a region and everything under it: 350000 → 35, 350500 → 3505."""
    code = code.strip()
    if code == NATIONAL:
        return ""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def describe(code: str) -> str:
    name = KNOWN_NAMES.get(code)
    return f"{code} {name}" if name else code
