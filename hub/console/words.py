"""The officers' words for the console's codes: agencies by name, families, states, stages,
events, results and sanctions in Chinese, each with its code kept in a tooltip (``title``), and
amounts in yuan.  Pure lookups (labels of agencies and regions, never of people); the pages use
them as Jinja filters (:func:`install`)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from hub.core.clock import beijing_time
from hub.wire import labels

STATES = {
    "DELIVERED": "已送达", "RECEIVED": "已签收", "ACCEPTED": "已受理", "RETURNED": "已退回",
    "IN_PROGRESS": "办理中", "CLOSED": "已办结",
}  # fmt: skip
EVENTS = {
    "submitted": "提交", "dlq_replayed": "重放", "routed": "路由", "delivered": "送达",
    "dead_lettered": "转入死信", "duplicate_ignored": "重复已忽略", "receipt": "签收",
    "accepted": "受理", "returned": "退回", "feedback": "进展反馈", "closed": "办结",
    "weekly_report": "周报表", "console_look": "查阅", "sla_warning": "时限预警",
    "sla_breach": "超期", "sla_escalation": "超期上报", "sla_flight_inspection": "飞行检查标记",
    "key_registered": "密钥登记", "WARNING": "时限预警", "BREACH": "超期",
    "ESCALATION": "超期上报", "FLIGHT_INSPECTION": "飞行检查标记",
}  # fmt: skip
#: Closure results, invoice check results and sanctions (schemas/avro closure, invoice result).
RESULTS = {
    "VERIFIED_TRUE": "查证属实", "NOT_TRUE": "查证不属实", "PARTIALLY_TRUE": "部分属实",
    "OTHER": "其他", "AUTHENTIC": "票据真实", "NOT_FOUND": "查无此票",
    "AMOUNT_MISMATCH": "金额不符", "VOIDED": "已作废", "ALREADY_REIMBURSED": "已报销",
    "INTERVIEW": "约谈", "SUSPENSION": "暂停结算", "AGREEMENT_TERMINATED": "解除协议",
    "BLACKLISTED": "列入黑名单", "FINED": "罚款", "REFERRED_TO_JUDICIAL": "移送司法",
}  # fmt: skip


def _coded(word: str, code: str) -> Markup:
    if word == code:
        return Markup("{}").format(code)
    return Markup('<span title="{}">{}</span>').format(code, word)


def agency(address: Any) -> Markup:
    """``晋江市公安局 PSB@350582``: the name, and the address the officer searches by."""
    if not address:
        return Markup("")
    text = str(address)
    name = labels.connector(text)
    if name == text:
        return Markup("<code>{}</code>").format(text)
    return Markup('{} <small class="code">{}</small>').format(name, text)


def agencies(addresses: Any) -> Markup:
    """A comma-separated list of addresses, each by name."""
    parts = [agency(a.strip()) for a in str(addresses or "").split(",") if a.strip()]
    return Markup("，").join(parts)


def family(code: Any) -> Markup:
    return _coded(labels.family(str(code)), str(code)) if code else Markup("")


def state(code: Any) -> Markup:
    return _coded(STATES.get(str(code), str(code)), str(code)) if code else Markup("")


def stage(code: Any) -> Markup:
    return _coded(labels.stage(str(code)), str(code)) if code else Markup("")


def event(code: Any) -> Markup:
    return _coded(EVENTS.get(str(code), str(code)), str(code)) if code else Markup("")


def result(code: Any) -> Markup:
    return _coded(RESULTS.get(str(code), str(code)), str(code)) if code else Markup("")


def yuan(fen_or_yuan: Any, *, fen: bool = False) -> str:
    """``19,300.00 元``; an empty value stays empty."""
    if fen_or_yuan in (None, ""):
        return ""
    try:
        value = float(fen_or_yuan) / (100 if fen else 1)
    except (TypeError, ValueError):
        return str(escape(fen_or_yuan))
    return f"{value:,.2f} 元"


def reason(code: Any) -> Markup:
    return _coded(labels.reason(str(code)), str(code)) if code else Markup("")


def report(fact: Any) -> Markup:
    """A processing report as the ledger keeps it (``n:size:root``, the document the reply
    carried): which document, how large, and that its chunks were checked on delivery."""
    parts = str(fact or "").split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return Markup("—") if not fact else Markup("{}").format(fact)
    n, size, root = int(parts[0]), int(parts[1]), parts[2]
    return Markup(
        "处理报告：随答复送达的第 {} 个文件，{} 字节，"
        '分块已在送达时逐块核验（根 <code title="{}">{}…</code>）'
    ).format(n, f"{size:,}", root, root[:16])


#: How each 台账 column reads on the page (the workbook keeps the plain values).
_LEDGER = {"family": family, "state": state, "sender": agency, "routed_to": agency,
           "result": result, "processing_report": report}  # fmt: skip


def ledger_cell(value: Any, column: str) -> Any:
    if value is None:
        return ""
    if column in _LEDGER:
        return _LEDGER[column](value)
    if column.endswith("_fen"):
        return yuan(value)  # the rows hold yuan already (ledger_book)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def install(env: Environment) -> None:
    env.filters.update(
        agency=agency, agencies=agencies, family=family, state=state, stage=stage,
        event=event, result=result, yuan=yuan, reason=reason, report=report,
        ledger_cell=ledger_cell,
    )  # fmt: skip


def story(step: Any, fallback: str) -> Markup:
    """What happened at a step of the custody, in the officers' words (the command line keeps
    its English ``hub.audit.trail.story``, passed as ``fallback`` for what is not told here)."""
    r, f = step.record, step.facts
    kind = r["kind"]
    if kind == "submitted":
        return Markup("{} 提交{}，收件方 {}").format(agency(r["sender"]), family(r["family"]),
                                                  agency(r["recipient"]))  # fmt: skip
    if kind == "routed":
        via = Markup("（经 {}）").format(agency(f["via"])) if f.get("via") else ""
        spare = "（备用路由）" if f.get("fallback") == "true" else ""
        return Markup("路由至 {}{}{}").format(agency(r["routed_to"]), via, spare)
    if kind == "delivered":
        return Markup("已写入 {} 的收件箱").format(agency(r["routed_to"]))
    if kind == "dead_lettered":
        return Markup("转入死信：{}").format(reason(f.get("reason")))
    if kind in {"receipt", "accepted", "returned", "feedback", "closed"}:
        extra: Markup | str = ""
        if kind == "closed" and f.get("result"):
            extra = Markup("：{}").format(result(f["result"]))
            if f.get("recovered_fen"):
                extra += Markup("，追回 {}").format(yuan(f["recovered_fen"], fen=True))
        if step.receipt_check:
            extra += ("，签收的正是发送的原字节" if step.receipt_check == "matches"
                      else "，签收的字节与发送的不符")  # fmt: skip
        return Markup("{} {}{}").format(agency(r["sender"]), event(kind), extra)
    if kind.startswith("sla_"):
        escalated = f.get("escalated_to")
        to = Markup("，上报至 {}").format(agencies(escalated)) if escalated else ""
        due = beijing_time(f.get("due_at")) if f.get("due_at") else "?"
        return Markup("{}：{}环节，义务方 {}（截止 {} 北京时间）{}").format(
            event(kind), stage(f.get("stage")), agency(r["recipient"]), due, to
        )
    if kind == "console_look":
        outcome = {"shown": "已显示", "denied": "拒绝", "downloaded": "已下载"}
        return Markup("{} 在监管台查阅（{}）").format(
            f.get("officer"), outcome.get(f.get("outcome", ""), f.get("outcome"))
        )
    return Markup("{}").format(fallback)
