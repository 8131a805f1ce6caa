"""The status board ops staff look at: ``/board`` on the worker's web port (and ``hub demo``).

One view, three renderings: :func:`gather` reads the ledger, the dead letters and the audit head
into a plain dict (also served as ``/board.json``); :func:`render_html` turns it into a page
that reloads itself; :func:`render_text` into what a terminal shows.  The view names agencies,
families, stages and reasons (in Chinese) and message ids; never a payload field.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from hub.core.clock import beijing_time, iso_ms
from hub.core.table import render_table
from hub.lifecycle.board import most_urgent
from hub.wire import labels


class LedgerView(Protocol):
    def board(self, now: datetime) -> list[dict[str, Any]]: ...
    def overdue(self, now: datetime, *, limit: int = 50) -> list[dict[str, Any]]: ...


class DeadLetterCounts(Protocol):
    def count_dead_letters(self) -> dict[str, int]: ...


class AuditView(Protocol):
    def head(self) -> tuple[int, str]: ...
    def last_checkpoint(self) -> Any: ...


def gather(
    ledger: LedgerView,
    dead_letters: DeadLetterCounts,
    audit: Callable[[], AuditView] | None,
    now: datetime,
) -> dict[str, Any]:
    board = ledger.board(now)
    totals = {k: sum(r[k] for r in board) for k in ("messages", "open", "overdue", "escalated")}
    pairs = [
        {
            **row,
            "sender_label": labels.connector(row["sender"]),
            "recipient_label": labels.connector(row["recipient"]),
            "family_label": labels.family(row["family"]),
        }
        for row in (board if len(board) <= BOARD_ROWS else most_urgent(board, BOARD_ROWS))
    ]
    overdue = [
        {
            "message_id": r["message_id"],
            "family": r["family"],
            "family_label": labels.family(r["family"]),
            "stage": r["stage"],
            "stage_label": labels.stage(r["stage"]),
            "debtor": r["debtor"],
            "debtor_label": labels.connector(r["debtor"]),
            "creditor_label": labels.connector(r["creditor"]),
            "risk_level": r["risk_level"],
            "due_at": iso_ms(r["due_at"]),
            "overdue_s": (now - r["due_at"]).total_seconds(),
            "escalated": r["escalated"],
        }
        for r in ledger.overdue(now)
    ]
    counts = dead_letters.count_dead_letters()
    dlq = [
        {"reason": reason, "label": labels.reason(reason), "count": n}
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "now": iso_ms(now),
        "pairs": pairs,
        "pairs_total": len(board),  # the rows behind ``pairs``: at most BOARD_ROWS are shown
        "totals": totals,
        "overdue": overdue,
        "dead_letters": dlq,
        "audit": _audit(audit),
    }


def _audit(audit: Callable[[], AuditView] | None) -> dict[str, Any]:
    if audit is None:
        return {"available": False}
    try:
        store = audit()
        seq, head_hash = store.head()
        cp = store.last_checkpoint()
    except Exception as exc:  # the sink may not have made its tables yet
        return {"available": False, "why": type(exc).__name__}
    return {
        "available": True,
        "head_seq": seq,
        "head_hash": head_hash,
        "checkpoint_seq": cp.seq if cp is not None else 0,
        "checkpoint_at": cp.signed_at if cp is not None else None,
    }


def duration(seconds: float | None) -> str:
    """3 d 4 h, 2 h 5 min, 12 min, 40 s: how long, for people."""
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{s} s"


# -- HTML -----------------------------------------------------------------------------------------
#: Pairs on the page at most, the most urgent first: a national board has 10⁵ groups.
BOARD_ROWS = 200

_STYLE = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 1.5em;
       color: #1d2733; background: #f6f8fa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.meta { color: #57606a; font-size: .85em; }
table { border-collapse: collapse; background: #fff; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left; white-space: nowrap; }
th { background: #eaeef2; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.overdue td { background: #ffebe9; } tr.warned td { background: #fff8c5; }
.tiles { display: flex; gap: 1em; flex-wrap: wrap; }
.tile { background: #fff; border: 1px solid #d0d7de; padding: .6em 1em; min-width: 9em; }
.tile b { display: block; font-size: 1.6em; } .bad b { color: #cf222e; } .ok b { color: #1a7f37; }
code { font-size: .85em; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _tile(label: str, value: object, css: str = "") -> str:
    return f'<div class="tile {css}"><b>{_e(value)}</b>{_e(label)}</div>'


def render_html(view: dict[str, Any], *, refresh_s: int = 10) -> str:
    pairs = view["pairs"]
    overdue = view["overdue"]
    audit = view["audit"]
    totals = view["totals"]
    total_overdue = totals["overdue"]
    tiles = [
        _tile("移交总数 hand-offs", totals["messages"]),
        _tile("未办结 open", totals["open"]),
        _tile("已超期 overdue", total_overdue, "bad" if total_overdue else "ok"),
        _tile("已上报 escalated", totals["escalated"]),
        _tile("死信 dead letters", sum(d["count"] for d in view["dead_letters"])),
    ]
    if audit.get("available"):
        tiles.append(_tile("审计链头 audit head", f"#{audit['head_seq']}"))
    rows = []
    for p in pairs:
        css = "overdue" if p["overdue"] else ("warned" if p["warned"] else "")
        rows.append(
            f'<tr class="{css}"><td>{_e(p["sender_label"])}<br><code>{_e(p["sender"])}</code></td>'
            f"<td>{_e(p['recipient_label'])}<br><code>{_e(p['recipient'])}</code></td>"
            f"<td>{_e(p['family_label'])}</td>"
            + "".join(
                f'<td class="n">{_e(p[k])}</td>'
                for k in ("messages", "open", "due_within_24h", "overdue", "breached", "escalated")
            )
            + f'<td class="n">{_e(duration(p["median_time_to_receipt_s"]))}</td></tr>'
        )
    late = [
        f'<tr class="overdue"><td><code>{_e(o["message_id"])}</code></td>'
        f"<td>{_e(o['family_label'])}</td><td>{_e(o['stage_label'])}</td>"
        f"<td>{_e(o['debtor_label'])}</td><td>{_e(o['creditor_label'])}</td>"
        f"<td>{_e(o['risk_level'] or '')}</td><td>{_e(beijing_time(o['due_at']))}</td>"
        f'<td class="n">{_e(duration(o["overdue_s"]))}</td>'
        f"<td>{'已上报' if o['escalated'] else ''}</td></tr>"
        for o in overdue
    ]
    dlq = [
        f"<tr><td>{_e(d['label'])}</td><td><code>{_e(d['reason'])}</code></td>"
        f'<td class="n">{_e(d["count"])}</td></tr>'
        for d in view["dead_letters"]
    ]
    if audit.get("available"):
        cp = (
            f"#{audit['checkpoint_seq']} 签名于 {beijing_time(audit['checkpoint_at'])}"
            if audit["checkpoint_at"]
            else "尚无 none yet"
        )
        audit_html = (
            f"<p>链头 head <b>#{_e(audit['head_seq'])}</b> <code>{_e(audit['head_hash'])}</code>"
            f"<br>最近检查点 last checkpoint {_e(cp)}</p>"
        )
    else:
        audit_html = "<p>审计库尚不可读 the audit store is not readable yet</p>"
    empty = '<tr><td colspan="{n}">无 none</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{int(refresh_s)}">
<title>医保基金监管数据共享枢纽 · 状态看板</title><style>{_STYLE}</style></head>
<body>
<h1>医保基金监管数据共享枢纽 · 状态看板</h1>
<div class="meta">北京时间 {_e(beijing_time(view["now"]))} · refreshes every {int(refresh_s)} s ·
<a href="/board.json">board.json</a> · <a href="/metrics">metrics</a></div>
<div class="tiles" id="tiles">{"".join(tiles)}</div>
<h2>时限看板 SLA board, per agency pair</h2>
{_shown(view)}
<table id="pairs"><tr><th>移送方<br>sender</th><th>接收方<br>recipient</th><th>类型<br>family</th>
<th>移交<br>hand-offs</th><th>未办结<br>open</th><th>24 小时内到期<br>due in 24 h</th>
<th>超期<br>overdue</th><th>违约<br>breached</th><th>上报<br>escalated</th>
<th>签收中位用时<br>median to receipt</th></tr>
{"".join(rows) or empty.format(n=10)}</table>
<h2>超期事项 overdue hand-offs</h2>
<table id="overdue"><tr><th>编号 message</th><th>类型 family</th><th>环节 stage</th>
<th>责任方 owed by</th><th>移送方 owed to</th><th>风险 risk</th><th>期限 due (北京时间)</th>
<th>超期 overdue by</th><th></th></tr>
{"".join(late) or empty.format(n=9)}</table>
<h2>死信 dead letters, by reason</h2>
<table id="dead-letters"><tr><th>原因</th><th>reason</th><th>数量 count</th></tr>
{"".join(dlq) or empty.format(n=3)}</table>
<h2>审计日志 audit log</h2>
<div id="audit">{audit_html}</div>
</body></html>
"""


def _shown(view: dict[str, Any]) -> str:
    hidden = view["pairs_total"] - len(view["pairs"])
    if hidden <= 0:
        return ""
    return (f'<p class="meta">最紧急的 {len(view["pairs"])} 组，另有 {hidden} 组未列出 · the '
            f'{len(view["pairs"])} most urgent pairs; {hidden} more: '
            "<code>hub status --all</code> or <code>--json</code></p>")  # fmt: skip


# -- text -----------------------------------------------------------------------------------------
def render_text(view: dict[str, Any]) -> str:
    out = [f"SLA board at {beijing_time(view['now'])} (北京时间)"]
    out.append(
        render_table(
            ["sender", "recipient", "family", "msgs", "open", "overdue", "breached", "escalated"],
            [
                [
                    f"{p['sender_label']} {p['sender']}",
                    f"{p['recipient_label']} {p['recipient']}",
                    p["family_label"],
                    p["messages"],
                    p["open"],
                    p["overdue"],
                    p["breached"],
                    p["escalated"],
                ]
                for p in view["pairs"]
            ],
        )
    )
    if view["overdue"]:
        out.append("overdue hand-offs:")
        for o in view["overdue"]:
            out.append(
                f"  {o['message_id']}  {o['family_label']} {o['stage_label']}  "
                f"责任方 {o['debtor_label']}（移送方 {o['creditor_label']}）  "
                f"overdue {duration(o['overdue_s'])}" + ("  已上报" if o["escalated"] else "")
            )
    if view["dead_letters"]:
        out.append(
            "dead letters: "
            + ", ".join(f"{d['label']} {d['reason']} {d['count']}" for d in view["dead_letters"])
        )
    audit = view["audit"]
    if audit.get("available"):
        out.append(
            f"audit head #{audit['head_seq']} {audit['head_hash'][:16]}…, last checkpoint "
            f"#{audit['checkpoint_seq']}"
        )
    return "\n".join(out)
