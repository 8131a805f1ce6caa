"""Documents through the hub beside a bare chunk relay, on the same broker in the same run.

Starts its own `hub run` (embedded Tansu broker, temporary home), then for each size:

  hub:    ``hub send --attach`` (a connector process) sends a clue with one PDF of that size
          from MIB@350582; ``hub inbox --save-documents`` (another) reads it at the recipient,
          checks it and writes it to disk.  Timed from the send's start to the document saved
          and compared byte for byte; MB/s over that span, and each process's peak RSS.
  relay:  the same number of 512 KiB records preloaded into a topic and moved to another by
          ``bench.relay`` (no decoding, no checks, no database), timed from its start to the
          last record on the far side.

At the end, the router's peak RSS (the hub process, whatever the sizes).  Never run by the
tests: timings are machine-dependent.  The embedded broker keeps every byte in memory (each
document twice: on hub.ingress and on the documents topic), so 1 GiB needs some 3 GiB free.

    .venv/bin/python -m bench.documents --sizes 10M,100M,1G
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import peak_rss_mib
from bench.throughput import relay_rate
from hub.wire.documents import CHUNK_BYTES, CHUNK_PLAINTEXT
from tests.hubproc import HubProcess, load_example, start_hub

SENDER = "MIB@350582"
#: One recipient per size, so each reading finds only its own message.
RECIPIENTS = ["PSB@350582", "HEALTH@350582", "CDI@350582", "PSB@350500"]
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    text = text.strip().upper()
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


def write_pdf(path: Path, size: int) -> str:
    """A PDF-headed file of ``size`` random bytes, written a MiB at a time; its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left, first = size, True
        while left:
            block = os.urandom(min(left, 1 << 20))
            if first:
                block, first = b"%PDF-1.7\n" + block[9:], False
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd``; its output and its peak RSS in MiB (VmHWM, sampled until it ends)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        rss = peak_rss_mib(proc.pid)
        if rss == rss:  # not NaN
            peak = max(peak, rss)
        time.sleep(0.05)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak


def through_hub(hub: HubProcess, size: int, recipient: str, work: Path) -> dict:
    source = work / f"evidence-{size}.pdf"
    digest = write_pdf(source, size)
    payload = work / "clue.json"
    payload.write_text(json.dumps(load_example("clue_transfer"), ensure_ascii=False), "utf-8")
    hub_cli = [sys.executable, "-m", "hub.cli"]
    started = time.perf_counter()
    sent, send_rss = run_measured(
        [*hub_cli, "send", "clue_transfer", "--from", SENDER, "--to", recipient,
         "--payload", str(payload), "--attach", str(source)],
        hub.env,
    )  # fmt: skip
    if sent.returncode:
        raise RuntimeError(f"hub send failed: {sent.stderr.decode()[-2000:]}")
    sent_at = time.perf_counter()
    message_id = sent.stdout.decode().strip()
    saved_dir = work / f"received-{size}"
    receive_rss = 0.0
    # A reading that finds the inbox at its end before the router delivered reads again.
    while not (saved_dir / message_id).is_dir():
        if time.perf_counter() - sent_at > 600:
            raise RuntimeError(f"{message_id} did not reach {recipient} in 10 minutes")
        received, rss = run_measured(
            [*hub_cli, "inbox", recipient, "--save-documents", str(saved_dir), "--idle", "2"],
            hub.env,
        )
        receive_rss = max(receive_rss, rss)
        if received.returncode:
            raise RuntimeError(f"hub inbox failed: {received.stderr.decode()[-2000:]}")
    done = time.perf_counter()
    saved = next((saved_dir / message_id).iterdir())
    with saved.open("rb") as f:
        same = hashlib.file_digest(f, "sha256").hexdigest() == digest
    source.unlink()
    saved.unlink()
    return {
        "size": size,
        "seconds": done - started,
        "send_s": sent_at - started,
        "receive_s": done - sent_at,
        "mb_s": size / 1e6 / (done - started),
        "send_rss_mib": send_rss,
        "receive_rss_mib": receive_rss,
        "identical": same,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10M,100M", help="comma-separated, e.g. 10M,100M,1G")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    if len(sizes) > len(RECIPIENTS):
        ap.error(f"at most {len(RECIPIENTS)} sizes")
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        work = Path(tmp)
        hub = start_hub(work / "home")
        try:
            rows = []
            for size, recipient in zip(sizes, RECIPIENTS, strict=False):
                print(f"hub: {size / 2**20:,.0f} MiB to {recipient} …", flush=True)
                result = through_hub(hub, size, recipient, work)
                chunks = -(-size // CHUNK_PLAINTEXT)
                print(f"relay: {chunks} records of {CHUNK_BYTES} bytes …", flush=True)
                rate, seen = asyncio.run(
                    relay_rate(hub.state.bootstrap, chunks, CHUNK_BYTES, args.timeout)
                )
                result["relay_mb_s"] = rate * CHUNK_BYTES / 1e6
                result["relay_records"] = seen
                rows.append(result)
            router_rss = peak_rss_mib(hub.process.pid)
        finally:
            hub.stop()
    print()
    print(f"{'size':>9} {'hub MB/s':>9} {'relay MB/s':>11} {'ratio':>6} {'send s':>7} "
          f"{'recv s':>7} {'send RSS':>9} {'recv RSS':>9} identical")  # fmt: skip
    for r in rows:
        print(
            f"{r['size'] / 2**20:>7,.0f}Mi {r['mb_s']:>9.1f} {r['relay_mb_s']:>11.1f} "
            f"{r['mb_s'] / r['relay_mb_s']:>6.2f} {r['send_s']:>7.1f} {r['receive_s']:>7.1f} "
            f"{r['send_rss_mib']:>7.0f}Mi {r['receive_rss_mib']:>7.0f}Mi {r['identical']}"
        )
    print(f"router (hub run) peak RSS: {router_rss:.0f} MiB")


if __name__ == "__main__":
    main()
