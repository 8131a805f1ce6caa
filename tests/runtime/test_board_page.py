"""The status board's view and page, from fakes of the ledger, the dead letters and the audit
log (the page in a browser with real data: tests/e2e/test_demo.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.runtime import board_page
from hub.wire import labels

NOW = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)


class FakeLedger:
    def board(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "sender": "MIB@350582",
                "recipient": "PSB@350582",
                "family": "clue_transfer",
                "messages": 3,
                "open": 2,
                "due_within_24h": 0,
                "overdue": 1,
                "warned": 1,
                "breached": 1,
                "escalated": 0,
                "median_time_to_receipt_s": 5400.0,
            },
        ]

    def overdue(self, now: datetime, *, limit: int = 50) -> list[dict[str, Any]]:
        return [
            {
                "message_id": "m-<1>",
                "family": "clue_transfer",
                "stage": "receipt",
                "debtor": "PSB@350582",
                "creditor": "MIB@350582",
                "risk_level": "LOW",
                "due_at": now - timedelta(hours=26),
                "escalated": True,
                "breached": True,
            },
        ]


class FakeDeadLetters:
    def count_dead_letters(self) -> dict[str, int]:
        return {"stale": 1, "invalid_payload": 4}


class BrokenAudit:
    def head(self) -> tuple[int, str]:
        raise RuntimeError("no such table")

    def last_checkpoint(self) -> Any:
        return None


def test_the_view_labels_agencies_in_chinese_and_orders_dead_letters_by_count() -> None:
    view = board_page.gather(FakeLedger(), FakeDeadLetters(), None, NOW)
    pair = view["pairs"][0]
    assert (pair["sender_label"], pair["recipient_label"]) == ("晋江市医疗保障局", "晋江市公安局")
    assert [d["reason"] for d in view["dead_letters"]] == ["invalid_payload", "stale"]
    assert view["dead_letters"][0]["label"] == "内容校验失败"
    assert view["overdue"][0]["overdue_s"] == 26 * 3600
    assert view["audit"] == {"available": False}


def test_an_audit_store_not_yet_made_is_shown_as_not_readable_not_an_error() -> None:
    view = board_page.gather(FakeLedger(), FakeDeadLetters(), BrokenAudit, NOW)
    assert view["audit"] == {"available": False, "why": "RuntimeError"}
    assert "审计库尚不可读" in board_page.render_html(view)


def test_the_page_escapes_what_it_shows_and_reloads_itself() -> None:
    page = board_page.render_html(board_page.gather(FakeLedger(), FakeDeadLetters(), None, NOW))
    assert "m-&lt;1&gt;" in page and "m-<1>" not in page
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "1 d 2 h" in page  # how long overdue, for people
    assert '<tr class="overdue">' in page


def test_labels_name_the_city_court_the_commission_and_the_national_bureau() -> None:
    assert labels.connector("COURT@350500") == "泉州市中级人民法院"
    assert labels.connector("COURT@350582") == "晋江市人民法院"
    assert labels.connector("CDI@350500") == "泉州市纪委监委"
    assert labels.connector("MIB@100000") == "国家医疗保障局"
    assert labels.connector("not an address") == "not an address"
    assert labels.stage("acceptance") == "受理"


class BigLedger(FakeLedger):
    """A national board: more pairs than the page shows, one of them overdue deep in the list."""

    def board(self, now: datetime) -> list[dict[str, Any]]:
        row = super().board(now)[0]
        rows = [
            {**row, "sender": f"MIB@35{n % 100:02d}{n // 100:02d}", "overdue": 0, "open": n % 7}
            for n in range(board_page.BOARD_ROWS + 50)
        ]
        rows[180]["overdue"] = 9
        return rows


def test_a_board_of_more_pairs_than_a_page_shows_the_most_urgent_and_counts_them_all() -> None:
    view = board_page.gather(BigLedger(), FakeDeadLetters(), None, NOW)
    assert len(view["pairs"]) == board_page.BOARD_ROWS
    assert view["pairs_total"] == board_page.BOARD_ROWS + 50
    assert view["pairs"][0]["overdue"] == 9  # the overdue pair first, wherever it was
    assert view["totals"]["messages"] == 3 * (board_page.BOARD_ROWS + 50)  # over every pair
    page = board_page.render_html(view)
    assert "另有 50 组未列出" in page and "hub status --all" in page
    small = board_page.render_html(board_page.gather(FakeLedger(), FakeDeadLetters(), None, NOW))
    assert "未列出" not in small
