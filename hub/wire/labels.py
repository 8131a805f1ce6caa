"""Chinese labels for what the board and the demo show: connectors, families, stages, reasons.

Labels are names of agencies and regions, never of people: nothing here reads a payload.
"""

from __future__ import annotations

from hub.trust.address import Address
from hub.trust.agencies import AGENCIES
from hub.trust.regions import KNOWN_NAMES, NATIONAL
from hub.wire.deadletter import Reason
from hub.wire.families import FAMILIES

#: 人民法院 at a city is the 中级人民法院 (intermediate court); elsewhere the plain name serves.
_CITY_NAMES = {"COURT": "中级人民法院"}
#: What a department is called on a board, where it differs from its name in the agency list.
_SHORT_NAMES = {"CDI": "纪委监委"}

STAGES = {"receipt": "签收", "acceptance": "受理", "result": "办结"}

REASONS: dict[str, str] = {
    Reason.UNDECODABLE: "无法解码",
    Reason.UNKNOWN_SCHEMA: "未知模式",
    Reason.NOT_AN_ENVELOPE: "非信封格式",
    Reason.UNKNOWN_FAMILY: "未知报文类型",
    Reason.SCHEMA_MISMATCH: "模式不符",
    Reason.INVALID_PAYLOAD: "内容校验失败",
    Reason.UNKNOWN_AGENCY: "未知机构或区划",
    Reason.UNKNOWN_SENDER: "未登记的发送方",
    Reason.BAD_SIGNATURE: "签名无效",
    Reason.POLICY_VIOLATION: "违反共享策略",
    Reason.NO_ROUTE: "无可达接收方",
    Reason.UNSUPPORTED_ENCRYPTION: "不支持的加密",
    Reason.ENCRYPTION_MISMATCH: "加密对象不符",
    Reason.ROUTER_ERROR: "路由故障",
    Reason.UNKNOWN_CONVERSATION: "无对应原件",
    Reason.ILLEGAL_TRANSITION: "状态流转不合法",
    Reason.INVALID_ID: "编号格式错误",
    Reason.ID_CONFLICT: "编号冲突",
    Reason.STALE: "已过时效",
    Reason.FROM_FUTURE: "时间超前",
    Reason.TOO_LARGE: "超出大小上限",
}


def agency_name(agency: str, region: str = "") -> str:
    if region.endswith("00") and not region.endswith("0000") and agency in _CITY_NAMES:
        return _CITY_NAMES[agency]
    if agency in _SHORT_NAMES:
        return _SHORT_NAMES[agency]
    described = AGENCIES.get(agency, agency)
    return described.split(" ", 1)[0]


def connector(address: str) -> str:
    """``PSB@350582`` → ``晋江市公安局``; an unparseable or unknown one is shown as it is."""
    try:
        parsed = Address.parse(address)
    except ValueError:
        return address
    if parsed.agency == "HUB":
        return agency_name("HUB")
    # 国家医疗保障局, not 全国: the national level names the state.
    region = "国家" if parsed.region == NATIONAL else KNOWN_NAMES.get(parsed.region, parsed.region)
    return f"{region}{agency_name(parsed.agency, parsed.region)}"


def family(name: str) -> str:
    found = FAMILIES.get(name)
    return found.title.split(" ", 1)[0] if found is not None else name


def stage(name: str) -> str:
    return STAGES.get(name, name)


def reason(code: str) -> str:
    return REASONS.get(code, code)
