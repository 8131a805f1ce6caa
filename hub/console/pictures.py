"""Pictures where officers would rather look than read, as SVG drawn on the server (no library,
no script): who handed how many of what to whom in a period, SLA compliance per agency pair by
week, and what is overdue by region.  The numbers come from the 台账 within the officer's scope;
every picture has its numbers in a table beside it for those who read.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select

from hub.console.search import region_range
from hub.core.clock import BEIJING, as_utc
from hub.lifecycle.tables import ledger, obligations
from hub.trust import regions

_e = html.escape


def _scoped(scope: str) -> list[Any]:
    span = region_range(scope)
    if span is None:
        return []
    lo, hi = span
    return [
        (ledger.c.sender_region >= lo) & (ledger.c.sender_region < hi)
        | (ledger.c.recipient_region >= lo) & (ledger.c.recipient_region < hi)
    ]


def flows(engine: Engine, scope: str, since: datetime, until: datetime) -> Counter[tuple[str, str]]:
    """Hand-offs per (sender agency, recipient agency) delivered in [since, until)."""
    query = select(ledger.c.sender, ledger.c.routed_to).where(
        *_scoped(scope),
        ledger.c.delivered_at >= as_utc(since),
        ledger.c.delivered_at < as_utc(until),
    )
    out: Counter[tuple[str, str]] = Counter()
    with engine.connect() as conn:
        for sender, to in conn.execute(query):
            out[(sender.partition("@")[0], to.partition("@")[0])] += 1
    return out


def compliance(
    engine: Engine, scope: str, since: datetime, until: datetime
) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """(sender agency, debtor agency) → ISO week → (met on time, due) of obligations due then."""
    query = (
        select(
            ledger.c.sender, obligations.c.debtor, obligations.c.due_at, obligations.c.fulfilled_at
        )
        .select_from(obligations.join(ledger, ledger.c.message_id == obligations.c.message_id))
        .where(
            *_scoped(scope),
            obligations.c.due_at >= as_utc(since),
            obligations.c.due_at < as_utc(until),
        )
    )
    counts: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(dict)
    with engine.connect() as conn:
        for sender, debtor, due, done in conn.execute(query):
            year, week, _ = as_utc(due).astimezone(BEIJING).isocalendar()
            cell = counts[(sender.partition("@")[0], debtor.partition("@")[0])].setdefault(
                f"{year}-W{week:02d}", [0, 0]
            )
            cell[1] += 1
            cell[0] += done is not None and as_utc(done) <= as_utc(due)
    return {pair: {w: (c[0], c[1]) for w, c in weeks.items()} for pair, weeks in counts.items()}


def overdue_by_region(engine: Engine, scope: str, now: datetime) -> Counter[str]:
    """Open obligations past due, by the region of the connector that owes them."""
    query = (
        select(obligations.c.debtor)
        .select_from(obligations.join(ledger, ledger.c.message_id == obligations.c.message_id))
        .where(
            *_scoped(scope),
            and_(obligations.c.fulfilled_at.is_(None), obligations.c.due_at < as_utc(now)),
        )
    )
    out: Counter[str] = Counter()
    with engine.connect() as conn:
        for (debtor,) in conn.execute(query):
            out[debtor.partition("@")[2]] += 1
    return out


# -- drawing ---------------------------------------------------------------------------------


def _blue(share: float) -> str:
    return f"rgb({int(235 - 200 * share)},{int(242 - 150 * share)},{int(250 - 90 * share)})"


def _rate_colour(rate: float) -> str:
    # red below 80 %, amber below 95 %, green above
    return "#d92d20" if rate < 0.8 else ("#f79009" if rate < 0.95 else "#12b76a")


def flows_svg(counts: Counter[tuple[str, str]]) -> str:
    senders = sorted({s for s, _ in counts})
    receivers = sorted({r for _, r in counts})
    if not counts:
        return '<p class="empty">这段时间没有移交 No hand-offs in this period.</p>'
    cell, left, top = 56, 90, 70
    width, height = left + cell * len(receivers) + 10, top + cell * len(senders) + 10
    most = max(counts.values())
    parts = [
        f'<svg id="flows" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="hand-offs between agencies">',
        f'<text x="{left}" y="14" font-size="12">接收方 to →</text>',
        f'<text x="4" y="{top - 8}" font-size="12">发送方 from ↓</text>',
    ]
    for j, r in enumerate(receivers):
        parts.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 12}" font-size="12" '
            f'text-anchor="middle">{_e(r)}</text>'
        )
    for i, s in enumerate(senders):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4}" font-size="12" '
            f'text-anchor="end">{_e(s)}</text>'
        )
        for j, r in enumerate(receivers):
            n = counts.get((s, r), 0)
            x = left + j * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{_blue(n / most) if n else "#f6f7f9"}"><title>{_e(s)} → '
                f"{_e(r)}: {n}</title></rect>"
            )
            if n:
                colour = "#fff" if n / most > 0.5 else "#1b1f24"
                parts.append(
                    f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" '
                    f'font-size="13" text-anchor="middle" fill="{colour}">{n}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def compliance_rows(
    data: dict[tuple[str, str], dict[str, tuple[int, int]]],
) -> list[tuple[str, str, str, int, int, str]]:
    """The compliance picture's numbers, a row per pair and week: sender, debtor, week, met on
    time, due, and the share (every picture has its table)."""
    return [
        (s, d, w, met, due, f"{met / due:.0%}")
        for (s, d), per in sorted(data.items())
        for w, (met, due) in sorted(per.items())
        if due
    ]


def compliance_svg(data: dict[tuple[str, str], dict[str, tuple[int, int]]]) -> str:
    if not data:
        return '<p class="empty">这段时间没有到期的时限 No deadlines fell due in this period.</p>'
    weeks = sorted({w for per in data.values() for w in per})
    pairs = sorted(data)
    cell_w, cell_h, left, top = 74, 26, 150, 30
    width, height = left + cell_w * len(weeks) + 10, top + cell_h * len(pairs) + 10
    parts = [
        f'<svg id="compliance" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="SLA compliance by pair and week">'
    ]
    for j, w in enumerate(weeks):
        parts.append(
            f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 10}" font-size="12" '
            f'text-anchor="middle">{_e(w)}</text>'
        )
    for i, (s, d) in enumerate(pairs):
        y = top + i * cell_h
        parts.append(
            f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" font-size="12" '
            f'text-anchor="end">{_e(s)} → {_e(d)}</text>'
        )
        for j, w in enumerate(weeks):
            met, due = data[(s, d)].get(w, (0, 0))
            if not due:
                continue
            rate = met / due
            x = left + j * cell_w
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{_rate_colour(rate)}"><title>{_e(s)} → {_e(d)} {_e(w)}: '
                f"{met}/{due} on time</title></rect>"
                f'<text x="{x + cell_w / 2}" y="{y + cell_h / 2 + 4}" font-size="12" '
                f'text-anchor="middle" fill="#fff">{rate:.0%}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def overdue_svg(counts: Counter[str]) -> str:
    if not counts:
        return '<p class="empty">没有超期事项 Nothing is overdue.</p>'
    rows = counts.most_common()
    bar, left, most = 22, 170, max(counts.values())
    width, height = left + 320, bar * len(rows) + 10
    parts = [
        f'<svg id="overdue" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="overdue by region">'
    ]
    for i, (region, n) in enumerate(rows):
        y = i * bar
        length = 300 * n / most
        parts.append(
            f'<text x="{left - 8}" y="{y + bar / 2 + 4}" font-size="12" '
            f'text-anchor="end">{_e(regions.describe(region))}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="{bar - 6}" '
            f'fill="#d92d20"><title>{_e(region)}: {n}</title></rect>'
            f'<text x="{left + length + 4}" y="{y + bar / 2 + 4}" font-size="12">{n}'
            "</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def period(since: str, until: str, now: datetime) -> tuple[datetime, datetime]:
    """[since, until] as Beijing days, the last four weeks by default."""

    def day(text: str, default: date) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return default

    today = now.astimezone(BEIJING).date()
    first, last = day(since, today - timedelta(days=27)), day(until, today)
    start = datetime(first.year, first.month, first.day, tzinfo=BEIJING)
    end = datetime(last.year, last.month, last.day, tzinfo=BEIJING) + timedelta(days=1)
    return as_utc(start), as_utc(end)
