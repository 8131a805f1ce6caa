"""``hub demo``: the 泉州 week of 泉医保〔2024〕70号 played through a real hub, in under two
minutes."""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from hub.core.config import Settings
from hub.core.errors import ConfigError

MARKER = ".hub-demo"


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hub.demo.play import run_demo

    home = Path(args.dir)
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise ConfigError(f"{home} is not empty and not a demo folder; choose another --dir")
        shutil.rmtree(home)  # every run starts from an empty hub: the same seed, the same week
    home.mkdir(parents=True)
    (home / MARKER).write_text("made by `hub demo`; removed by the next run\n", encoding="utf-8")

    def hold(web_url: str) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(
            f"\nthe hub keeps running: open {web_url}/board and the console above — Ctrl-C "
            "stops both",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("stopping the demo hub ...", flush=True)

    def say(line: str) -> None:
        print(line, flush=True)

    stopping = threading.Event()

    def on_ctrl_c(*_: object) -> None:
        # The first Ctrl-C stops the week where it is; more would only break the clean stop.
        if stopping.is_set():
            print("still stopping: the departments, the gateways, then the hub ...", flush=True)
            return
        stopping.set()
        print("\nCtrl-C: stopping the demo (departments, gateways, then the hub) ...", flush=True)
        for noisy in ("kafka", "aiokafka", "connectors", "hub"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)  # the stop is said here
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_ctrl_c)  # hold() takes Ctrl-C over once the week is played

    outcome = run_demo(
        home, seed=args.seed, web_port=args.port, say=say,
        hold=hold if args.keep_running else None, suite=args.suite,
    )  # fmt: skip
    print(f"demo finished in {outcome.seconds:.0f} s", file=sys.stderr)
    return 0 if outcome.verify.startswith("audit log intact") else 1


def add_parsers(sub: Any, fmt: Any) -> None:
    s = sub.add_parser(
        "demo",
        formatter_class=fmt,
        help="play a week of the 泉州 departments through a real hub",
        description="Start a hub on the embedded defaults in its own folder, open connectors for "
        "泉州市's medical insurance bureau, police, procuratorate, court, finance bureau, health "
        "commission and discipline commission and the county bureaus of 晋江, 南安 and 石狮, and "
        "play a scripted working week: the next plain working week (Monday to Friday, no "
        "holiday) from today, so the hub's clock runs ahead of the wall clock.  The week: the "
        "national batch 第一批 down the hierarchy, a whistle-blower clue, a case referral "
        "MIB → PSB → PROC → COURT, e-invoice checks (one invoice voided), an encrypted "
        "corruption clue to the commission, a receipt breach escalated to the city police, a "
        "high-risk clue flagged for 飞行检查.  The hub's clock runs through the week; the same "
        "seed plays the same week.  Ends with the SLA board, the weekly report (forms 1–3) and "
        "`hub audit verify`.",
        epilog="examples:\n  ./dev hub demo\n  ./dev hub demo --seed 7 --keep-running   "
        "(then open the board and console it prints, and sign in as it says)",
    )
    s.add_argument("--seed", type=int, default=2024, help="picks the week's clues (default 2024)")
    s.add_argument(
        "--dir",
        default=".hub-demo",
        help="the demo hub's folder, emptied first (default .hub-demo)",
    )
    s.add_argument("--port", type=int, default=0, help="the hub's web port (default: a free one)")
    s.add_argument(
        "--suite",
        choices=["intl", "gm"],
        default="intl",
        help="the departments' keys and the log in this cryptographic suite: gm is SM2/SM3/SM4 "
        "(国密, what GB/T 39786 evaluates); default intl",
    )
    s.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the hub running after the week, with the officers' console beside it: "
        "prints the board's and the console's addresses and a ready-made supervisor's sign-in; "
        "Ctrl-C stops both",
    )
    s.set_defaults(func=cmd_demo)
