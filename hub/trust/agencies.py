"""The agencies that take part (see docs/domain.md).

Every agency exists at several region levels.
"""

from __future__ import annotations

AGENCIES: dict[str, str] = {
    "MIB": "医疗保障局 medical insurance bureau",
    "PSB": "公安局 public security bureau",
    "PROC": "人民检察院 procuratorate",
    "COURT": "人民法院 court",
    "FIN": "财政局 finance bureau",
    "HEALTH": "卫生健康委 health commission",
    "CDI": "纪检监察 discipline inspection and supervision",
    "SAMR": "市场监督管理局 market regulation",
    "HRSS": "人力资源和社会保障局 human resources and social security",
    # Not a government agency: the hub's operators.  Their connector (HUB@100000, see
    # hub.trust.operators) signs SLA events and receives every escalation.
    "HUB": "平台运维 hub operators",
}


def is_agency(code: str) -> bool:
    return code in AGENCIES
