"""The report's small rules and names: sources, sanctions, results, the week, money, regions.

Pure functions and constants; the reasons behind each rule are in :mod:`hub.report.weekly`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from hub.core.clock import BEIJING
from hub.trust import regions

if TYPE_CHECKING:
    pass


NATIONAL = "NATIONAL_BUREAU"
PROVINCIAL = "PROVINCIAL_BUREAU"
WHISTLEBLOWER = "WHISTLEBLOWER"

HOSPITAL = "HOSPITAL"
PHARMACY = "PHARMACY"
INSURED_PERSON = "INSURED_PERSON"

SANCTION_KINDS = (
    "INTERVIEW",
    "SUSPENSION",
    "AGREEMENT_TERMINATED",
    "BLACKLISTED",
    "FINED",
    "REFERRED_TO_JUDICIAL",
    "OTHER",
)
#: The sanctions whose 减少基金损失 form 1 asks for (rows 3 and 4).
LOSS_KINDS = ("SUSPENSION", "AGREEMENT_TERMINATED")
VERIFIED_RESULTS = frozenset({"VERIFIED_TRUE", "PARTIALLY_TRUE"})

#: Chinese names for the notes, which are read alongside the forms.
SANCTION_NAMES = {
    "INTERVIEW": "约谈",
    "SUSPENSION": "暂停结算",
    "AGREEMENT_TERMINATED": "解除协议",
    "BLACKLISTED": "列入黑名单",
    "FINED": "行政处罚",
    "REFERRED_TO_JUDICIAL": "移送司法",
    "OTHER": "其他",
}
RESULT_NAMES = {
    "VERIFIED_TRUE": "查证属实",
    "PARTIALLY_TRUE": "部分属实",
    "NOT_TRUE": "不属实",
    "OTHER": "其他",
}
SUBJECT_NAMES = {
    "FUND_HANDLER": "经办机构",
    "OTHER_INSTITUTION": "其他机构",
    "DOCTOR": "医务人员",
    "OTHER_PERSON": "其他人员",
}

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_NOTE_LIMIT = 20


# -- small rules -------------------------------------------------------------------------------


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """The ISO week ``YYYY-Www`` as [Monday 00:00, next Monday 00:00) CST, in UTC."""
    m = _WEEK.fullmatch(week.strip().upper())
    if not m:
        raise ValueError(f"week {week!r} is not an ISO week like 2024-W25")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"week {week!r} does not exist: {year} has no ISO week {number}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=BEIJING).astimezone(UTC)
    return start, start + timedelta(days=7)


def check_region(region: str) -> str:
    region = region.strip()
    if not regions.is_region(region):
        raise ValueError(f"region {region!r} is not a six-digit region code like 350500")
    return region


def fen_to_wan(fen: int) -> str:
    """Fen as 万元 with two decimals, half up: 12_345_000 → '12.35'."""
    wan = (Decimal(fen) / Decimal(1_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{wan:.2f}"


_DIGITS = "〇一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 21 → 二十一; outside 1–99 Arabic digits (第100批 reads fine)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def cst_date(instant: datetime) -> date:
    return instant.astimezone(BEIJING).date()


def in_region(address: str | None, prefix: str) -> bool:
    """An MIB connector at or under the region whose code prefix is ``prefix``."""
    agency, _, code = (address or "").partition("@")
    return agency == "MIB" and code.startswith(prefix)
