"""The demo's payloads: invented institutions and people with valid check digits (GB 32100
credit codes, GB 11643 ID numbers), so the hub's field rules accept them as they would real ones.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.wire.validators import id_check_char, uscc_check_char


def clue_facts(payload: dict[str, Any]) -> dict[str, Any]:
    batch = payload["batch"]
    return {
        "clue_id": payload["clue_id"],
        "source": batch["source"],
        "batch_number": batch.get("batch_number"),
        "subject_kind": payload["subject"]["kind"],
        "subject_no": payload["subject"].get("credit_code") or payload["subject"].get("id_number"),
        "amount_fen": payload["amount_fen"],
    }


def credit_code(n: int, county: str) -> str:
    first = f"91{county[-6:]}MA{n:07d}"[:17]
    return first + uscc_check_char(first)


def id_number(n: int, county: str) -> str:
    first = f"{county[-6:]}1980{(n % 12) + 1:02d}{(n % 27) + 1:02d}{n % 1000:03d}"
    return first + id_check_char(first)


def subject(kind: str, n: int, county: str) -> dict[str, Any]:
    if kind == "INSURED_PERSON":
        return {
            "kind": kind,
            "name": f"参保人{n:02d}",
            "credit_code": None,
            "id_number": id_number(n, county),
        }
    name = f"某某{'医院' if kind == 'HOSPITAL' else '大药房'}{n:02d}"
    return {"kind": kind, "name": name, "credit_code": credit_code(n, county), "id_number": None}


def clue(
    clue_id: str,
    *,
    source: str,
    kind: str,
    n: int,
    county: str,
    amount_fen: int,
    category: str,
    risk: str = "MEDIUM",
    batch_number: int | None = None,
    sequence: int | None = None,
    batch_size: int | None = None,
    requested: date | None = None,
) -> dict[str, Any]:
    return {
        "clue_id": clue_id,
        # A clue outside any batch is a batch of its own (the schema wants one).
        "batch": {
            "batch_id": f"NHSA-2024-B{batch_number:02d}" if batch_number else f"{clue_id}-B",
            "source": source,
            "batch_number": batch_number or 1,
            "sequence": sequence or 1,
            "batch_size": batch_size,
        },
        "category": category,
        "risk_level": risk,
        "subject": subject(kind, n, county),
        "amount_fen": amount_fen,
        "summary": "演示数据：大数据筛查疑点。",
        "evidence": [],
        "legal_basis": "《医疗保障基金使用监督管理条例》第四十条",
        "requested_deadline": requested.isoformat() if requested else None,
    }


def invoice_request(
    number: str, code: str, check: str, issued: str, amount_fen: int, payer_id: str
) -> dict[str, Any]:
    return {
        "request_id": f"QZ-IVR-{number[-4:]}",
        "invoice_code": code,
        "invoice_number": number,
        "check_code": check,
        "issue_date": issued,
        "amount_fen": amount_fen,
        "payer_name": "演示参保人",
        "payer_id_number": payer_id,
    }


def case_referral(pharmacy_code: str) -> dict[str, Any]:
    return {
        "case_number": "泉医保移〔2024〕5号",
        "stage": "MIB_TO_PSB",
        "suspects": [
            {
                "kind": "INSTITUTION",
                "name": "某某大药房91",
                "credit_code": pharmacy_code,
                "id_number": None,
                "role": "定点零售药店",
            }
        ],
        "charges": ["诈骗罪"],
        "amount_fen": 5_600_000,
        "cited_clue_ids": ["QZ-2024-GANG-01"],
        "summary": "演示数据：药店倒卖医保药品，涉嫌诈骗医保基金。",
        "attachments": [],
    }


def corruption_handoff() -> dict[str, Any]:
    return {
        "handoff_id": "QZ-CDI-2024-02",
        "officials": [{"name": "某某", "post": "稽核科科长", "unit": "泉州市医疗保障基金中心"}],
        "related_clue_ids": ["QZ-2024-GANG-01"],
        "related_case_numbers": ["泉医保移〔2024〕5号"],
        "summary": "演示数据：稽核人员涉嫌收受好处。",
        "sensitivity": "HIGHLY_SENSITIVE",
        "evidence": [],
    }
