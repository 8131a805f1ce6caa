"""How long after `kill -9` a `hub run` on its embedded broker routes again.

The embedded broker keeps everything in memory and dies with its hub, so this drill does not
check delivery (the crash drill, on a broker that outlives the hub, does): it starts `hub run`,
kills it with SIGKILL, starts it again at once, and prints the time from each restart to the
router holding its partitions with the store answering (what /readyz reports).

    .venv/bin/python ops/drills/restart.py --restarts 5
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def start(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (home / "hub-run.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


READY = "ready: routing with"


def routed_after(home: Path, env: dict[str, str], timeout: float = 60.0) -> float:
    """Restart now; seconds until the router has its partitions and the store answers (the
    moment /readyz turns ready: a waiting record is routed at the next fetch, <= 100 ms)."""
    log = home / "hub-run.log"
    before = log.read_text(errors="replace").count(READY) if log.exists() else 0
    started = time.monotonic()
    proc = start(home, env)
    try:
        while time.monotonic() < started + timeout:
            if log.read_text(errors="replace").count(READY) > before:
                return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(f"not routing {timeout} s after the restart")
    finally:
        time.sleep(1.0)  # let it run a moment, as a real hub would, before the next kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument(
        "--session-timeout",
        type=float,
        metavar="S",
        help="the hub's consumer session timeout (default: the hub's own)",
    )
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hub-restart-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(home), HUB_DEV_DIRECTORY="always")
    if args.session_timeout is not None:
        env.update(
            HUB_SESSION_TIMEOUT_S=str(args.session_timeout),
            HUB_HEARTBEAT_INTERVAL_S=str(min(1.0, args.session_timeout / 4)),
        )
    figures = [routed_after(home, env) for _ in range(args.restarts + 1)]
    print(f"first start → routing (s)          {figures[0]:.1f}")
    print(f"kill -9, restart → routing (s)     {', '.join(f'{f:.1f}' for f in figures[1:])}")
    print(f"(logs in {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
