"""`hub demo --suite gm` in a module of its own, so that it plays beside the intl week of
test_demo.py on another worker rather than after it on the same one."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hub.demo import week
from tests.e2e.test_demo import ROOT, SEED, DemoRun, as_played, expected_report

pytestmark = pytest.mark.broker


def test_the_same_week_under_the_gm_suite_plays_the_same_and_is_signed_with_sm2(
    tmp_path: Path,
) -> None:
    """`hub demo --suite gm`: the same seed plays the same week, with SM2 keys, SM4-sealed
    corruption clues and an SM3 log, and the weekly report's figures are the intl run's."""
    home = tmp_path / "gm-week"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--suite", "gm", "--seed", str(SEED),
         "--dir", str(home)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The demo signs the week's log, unless the sink's own interval signed its head just before.
    assert re.search(r"checkpoint at record #\d+ \S+ with sm2:", done.stdout)
    assert re.search(r"audit log intact: \d+ records, .* \d+ checkpoint\(s\) verified",
                     done.stdout)  # fmt: skip
    gm = DemoRun(home, "", done.stdout)
    # The same seed's week (the intl run's, test_demo.py), and played exactly as scripted: so
    # its weekly report's figures are the intl run's.
    script = gm.json("script.json")
    year, number = (int(x) for x in script["week"].split("-W"))
    monday = date.fromisocalendar(year, number, 1)
    assert script == json.loads(json.dumps(week.build(SEED, monday).to_json()))
    assert as_played(gm.json("weekly.json")) == expected_report(script)
    keys = json.loads((home / "directory.json").read_text(encoding="utf-8"))["directory"]
    ids = [k["key_id"] for c in keys["connectors"] for k in c["keys"] + c["encryption_keys"]]
    assert ids and all(i.startswith(("sm2:", "sm2enc:")) for i in ids)
    audit = sqlite3.connect(home / "audit.db")
    assert audit.execute("SELECT value FROM audit_meta WHERE name = 'hash'").fetchone() == ("gm",)
    query = "SELECT signed FROM audit_log WHERE kind = 'submitted' AND signed IS NOT NULL"
    signed = [json.loads(s) for (s,) in audit.execute(query)]
    assert signed and {s["scheme"] for s in signed} == {"hub-sig-sm2-v1"}
    audit.close()
