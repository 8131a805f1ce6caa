"""The scripted week itself: :func:`build` writes every step of it for a seed (see
:mod:`demo.scenario` for the story, the departments and the step format)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from hub.demo.payloads import (
    case_referral,
    clue,
    corruption_handoff,
    credit_code,
    id_number,
    invoice_request,
)
from hub.demo.scenario import (
    BATCH_SIZE,
    CATEGORIES,
    CDI,
    CITY,
    COUNTIES,
    COURT,
    FIN,
    HEALTH,
    JINJIANG,
    NANAN,
    NATIONAL,
    PROC,
    PROVINCE,
    PSB,
    PSB_JINJIANG,
    SANCTIONS,
    SLOW_CLUE,
    SUBJECTS,
    Script,
    Step,
    moment,
)


def build(seed: int, monday: date) -> Script:
    """The week from ``monday`` (a Monday), deterministic for ``seed``."""
    if monday.weekday() != 0:
        raise ValueError(f"{monday} is not a Monday")
    rng = random.Random(seed)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return moment(monday, day, hour, minute)

    steps: list[Step] = []
    n = 0

    def mid(tag: str) -> str:
        nonlocal n
        n += 1
        return f"demo{seed}-{n:03d}-{tag}"

    def send(
        when: datetime,
        frm: str,
        to: str,
        family: str,
        payload: dict[str, Any],
        say: str,
        tag: str,
        **args: Any,
    ) -> str:
        m = mid(tag)
        steps.append(
            Step(when, frm, "send", m, say, family=family, to=to, payload=payload, args=args)
        )
        return m

    def answer(when: datetime, actor: str, action: str, ref: str, say: str, **args: Any) -> None:
        steps.append(Step(when, actor, action, ref, say, args=args))

    # -- Monday: the national batch down the hierarchy ---------------------------------------
    batch: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(1, BATCH_SIZE + 1):
        kind = rng.choice(SUBJECTS)
        county = NANAN if i == SLOW_CLUE else rng.choice(COUNTIES)
        payload = clue(
            f"NHSA-2024-B01-{i:03d}",
            source="NATIONAL_BUREAU",
            kind=kind,
            n=i,
            county=county,
            amount_fen=rng.randrange(20, 400) * 10_000,
            category=rng.choice(CATEGORIES[kind]),
            risk="HIGH" if i == SLOW_CLUE else rng.choice(("LOW", "MEDIUM", "HIGH")),
            batch_number=1,
            sequence=i,
            batch_size=BATCH_SIZE,
            requested=monday + timedelta(days=2) if i == SLOW_CLUE else None,
        )
        batch.append((payload["clue_id"], county, payload))
    county_ids: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for clue_id, county, dispatched in batch:
        # Only the city's dispatch asks for a date (请于6月19日前核查完毕): the levels above
        # pass the clue on without one.
        payload = {**dispatched, "requested_deadline": None}
        label = f"疑点线索 第一批 {clue_id}"
        m1 = send(
            at(0, 9), NATIONAL, PROVINCE, "clue_transfer", payload, f"国家医保局下发 {label}", "nat"
        )
        answer(at(0, 9, 5), PROVINCE, "receipt", m1, "福建省医保局签收")
        answer(at(0, 9, 10), PROVINCE, "accept", m1, "福建省医保局受理")
        m2 = send(
            at(0, 9, 30), PROVINCE, CITY, "clue_transfer", payload, f"省局转泉州 {clue_id}", "prov"
        )
        answer(at(0, 9, 35), CITY, "receipt", m2, "泉州市医保局签收")
        answer(at(0, 9, 40), CITY, "accept", m2, "泉州市医保局受理")
        m3 = send(
            at(0, 10),
            CITY,
            county,
            "clue_transfer",
            dispatched,
            f"泉州分派 {clue_id} → {county}",
            "city",
        )
        answer(at(0, 10, 30), county, "receipt", m3, f"{county} 签收")
        answer(
            at(0, 11),
            county,
            "accept",
            m3,
            f"{county} 受理",
            case_number=f"{county[-6:]}-{clue_id[-3:]}",
        )
        county_ids[clue_id] = (m3, county, dispatched)

    whistle = clue(
        "QZ-12393-2024-0617",
        source="WHISTLEBLOWER",
        kind="INSURED_PERSON",
        n=90,
        county=JINJIANG,
        amount_fen=86_000,
        category="CARD_SKIMMING",
    )
    w = send(
        at(0, 10, 30), CITY, JINJIANG, "clue_transfer", whistle,
        "12393 举报线索 → 晋江（附举报材料与就诊明细）", "whistle",
        evidence=["举报材料.pdf", "就诊明细.csv"],
    )  # fmt: skip
    answer(at(0, 11), JINJIANG, "receipt", w, "晋江市医保局签收举报线索")
    answer(at(0, 11, 5), JINJIANG, "accept", w, "晋江市医保局受理", case_number="350582-J01")

    gang = clue(
        "QZ-2024-GANG-01",
        source="CITY_BUREAU",
        kind="PHARMACY",
        n=91,
        county=CITY,
        amount_fen=5_600_000,
        category="DRUG_RESELLING",
        risk="HIGH",
    )
    g = send(
        at(0, 11, 30), CITY, PSB, "clue_transfer", gang, "倒卖医保药品团伙线索 → 市公安局", "gang"
    )
    answer(at(0, 12), PSB, "receipt", g, "市公安局签收")
    answer(at(0, 13), PSB, "accept", g, "市公安局受理并立案侦查", case_number="泉公经〔2024〕61号")

    conduct = clue(
        "QZ-2024-CONDUCT-01",
        source="OWN_SCREENING",
        kind="HOSPITAL",
        n=92,
        county=CITY,
        amount_fen=320_000,
        category="OVER_TREATMENT",
        risk="MEDIUM",
    )
    h = send(
        at(0, 14),
        CITY,
        HEALTH,
        "clue_transfer",
        conduct,
        "过度诊疗（医疗行为）线索 → 市卫健委",
        "conduct",
    )
    answer(at(0, 14, 30), HEALTH, "receipt", h, "市卫健委签收")
    # The same clue typed again by hand, its credit code one character off: the hub refuses it
    # (内容校验失败) and keeps it as a dead letter, with its reason, for the sender to correct.
    typo = {**conduct, "clue_id": "QZ-2024-CONDUCT-01-R"}
    code = conduct["subject"]["credit_code"]
    typo["subject"] = {
        **conduct["subject"],
        "credit_code": code[:-1] + ("0" if code[-1] != "0" else "1"),
    }
    steps.append(
        Step(
            at(0, 14, 40),
            CITY,
            "send",
            mid("typo"),
            "手工重录的线索信用代码校验位错误 → 死信（内容校验失败）",
            family="clue_transfer",
            to=HEALTH,
            payload=typo,
            args={"dead_letter": "invalid_payload"},
        )
    )

    silent = clue(
        "JJ-2024-0617-01",
        source="OWN_SCREENING",
        kind="INSURED_PERSON",
        n=93,
        county=JINJIANG,
        amount_fen=45_000,
        category="FAKE_TREATMENT",
        risk="LOW",
    )
    s = send(
        at(0, 15),
        JINJIANG,
        PSB_JINJIANG,
        "clue_transfer",
        silent,
        "晋江医保 → 晋江公安（无人签收）",
        "silent",
    )

    # -- Tuesday ------------------------------------------------------------------------------
    answer(at(1, 9), HEALTH, "accept", h, "市卫健委受理")
    for number, code, check, issued, amount in (
        ("0001234567", "35010124", "A1B2C3", "2024-05-20", 356_000),
        ("0001234568", "35010124", "D4E5F6", "2024-05-21", 128_000),
    ):
        req = invoice_request(number, code, check, issued, amount, id_number(94, CITY))
        inv = send(
            at(1, 10),
            CITY,
            FIN,
            "invoice_verification_request",
            req,
            f"电子票据查验 {code}/{number} → 市财政局",
            "inv",
        )
        answer(
            at(1, 10, 5),
            CITY,
            "expect",
            inv,
            "市财政局自动答复",
            family="invoice_verification_result",
        )
    referral = case_referral(credit_code(91, CITY))
    r1 = send(at(1, 11), CITY, PSB, "case_referral", referral, "案件移送 医保局 → 公安局", "case1")
    answer(at(1, 11, 30), PSB, "receipt", r1, "市公安局签收案件")
    answer(at(1, 14), PSB, "accept", r1, "市公安局受理案件", case_number="泉公经〔2024〕61号")
    cdi = corruption_handoff()
    c = send(
        at(1, 14, 30),
        CITY,
        CDI,
        "corruption_clue_handoff",
        cdi,
        "问题线索移交市纪委监委（端到端加密）",
        "cdi",
    )
    answer(at(1, 15), CDI, "receipt", c, "市纪委监委签收")
    answer(at(1, 16), CDI, "accept", c, "市纪委监委受理")
    answer(
        at(2, 8, 30),
        CITY,
        "expect",
        s,
        "晋江公安逾期未签收（期限：次一工作日内）：违约 BREACH",
        kind="BREACH",
        stage="receipt",
    )

    # -- Wednesday ----------------------------------------------------------------------------
    r2 = send(
        at(2, 9),
        PSB,
        PROC,
        "case_referral",
        {**referral, "stage": "PSB_TO_PROC", "case_number": "泉公经〔2024〕61号"},
        "案件移送 公安局 → 检察院（提请批捕）",
        "case2",
    )
    answer(at(2, 9, 30), PROC, "receipt", r2, "市检察院签收")
    answer(at(2, 10), PROC, "accept", r2, "市检察院受理", case_number="泉检刑〔2024〕33号")
    answer(
        at(2, 11),
        PSB,
        "feedback",
        g,
        "市公安局反馈侦查进展",
        note="已固定证据，正在追查上下线",
        percent=40,
    )
    answer(
        at(3, 8, 10),
        PSB,
        "expect",
        s,
        "违约满一日仍未签收：上报市公安局 ESCALATION",
        kind="ESCALATION",
        stage="receipt",
    )

    # -- Thursday -----------------------------------------------------------------------------
    answer(
        at(3, 8),
        CITY,
        "expect",
        county_ids[batch[SLOW_CLUE - 1][0]][0],
        "高风险线索逾期未办结：纳入飞行检查",
        kind="FLIGHT_INSPECTION",
        stage="result",
    )
    r3 = send(
        at(3, 9),
        PROC,
        COURT,
        "case_referral",
        {**referral, "stage": "PROC_TO_COURT", "case_number": "泉检刑〔2024〕33号"},
        "案件移送 检察院 → 中级人民法院（提起公诉）",
        "case3",
    )
    answer(at(3, 9, 30), COURT, "receipt", r3, "市中级人民法院签收")
    answer(at(3, 10), COURT, "accept", r3, "市中级人民法院立案", case_number="(2024)闽05刑初88号")
    answer(
        at(3, 10, 30),
        HEALTH,
        "close",
        h,
        "市卫健委办结",
        result="VERIFIED_TRUE",
        sanctions={"INTERVIEW": 1},
        recovered_fen=120_000,
        penalties_fen=0,
    )

    # -- Thursday and Friday: the counties close what they verified ---------------------------
    for i, (clue_id, _county, payload) in enumerate(batch, start=1):
        if i == SLOW_CLUE:
            continue
        roll = rng.random()
        if roll < 0.25:
            continue  # still being verified at the week's end
        m3, county, _ = county_ids[clue_id]
        kind = payload["subject"]["kind"]
        result = (
            "NOT_TRUE" if roll > 0.85 else ("PARTIALLY_TRUE" if roll > 0.7 else "VERIFIED_TRUE")
        )
        sanctions = {} if result == "NOT_TRUE" else dict(rng.choice(SANCTIONS[kind]))
        recovered = (
            0 if result == "NOT_TRUE" else payload["amount_fen"] * rng.choice((1, 2, 3)) // 4
        )
        penalties = 0 if result == "NOT_TRUE" else recovered // 2 * rng.choice((0, 1))
        day = 3 if rng.random() < 0.5 else 4
        answer(
            at(day, 11 + i % 5),
            county,
            "close",
            m3,
            f"{county} 办结 {clue_id}（附处理报告）",
            result=result,
            sanctions=sanctions,
            recovered_fen=recovered,
            penalties_fen=penalties,
            processing_report=True,  # a clue the city handed down (临医保发〔2019〕8号)
        )
    answer(
        at(4, 16),
        JINJIANG,
        "close",
        w,
        "晋江市医保局办结举报线索（附处理报告）",
        result="VERIFIED_TRUE",
        sanctions={"FINED": 1},
        recovered_fen=86_000,
        penalties_fen=86_000,
        processing_report=True,
    )
    # -- Saturday morning: 晋江 reports the week upward, with the week's processing reports -----
    iso, say = monday.isocalendar(), "晋江市医保局报送本周周报表（附本周处理报告）→ 泉州市医保局"
    answer(at(5, 9), JINJIANG, "weekly", "", say, week=f"{iso.year}-W{iso.week:02d}")
    answer(
        at(4, 8, 30),
        PSB,
        "expect",
        s,
        "晋江公安逾期未受理（三个工作日）：违约 BREACH",
        kind="BREACH",
        stage="acceptance",
    )
    steps.sort(key=lambda st: st.at)  # stable: same-time steps keep the order written
    return Script(seed, monday, tuple(steps))
