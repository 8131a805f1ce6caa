"""Documents through the hub beside a bare chunk relay, on the same broker in the same run.

Starts its own `hub run` (embedded Tansu broker, temporary home), then for each size:

  hub:    ``hub send --attach`` (a connector process) sends a clue with one PDF of that size
          from MIB@350582; ``hub inbox --save-documents`` (another) reads it at the recipient,
          checks it and writes it to disk.  Timed from the send's start to the document saved
          and compared byte for byte; MB/s over that span, and each process's peak RSS.
  relay:  the same number of 512 KiB records preloaded into a topic and moved to another by
          ``bench.relay`` (no decoding, no checks, no database), timed from its start to the
          last record on the far side.

With ``--via gateways`` the document goes as the done-when of issue 20 asks: curl posts it as
multipart to MIB's ``hub gateway`` (sealed end to end), the recipient's gateway saves it, and
curl fetches it with ``GET /v1/messages/{id}/documents/1``; peak RSS of each gateway, and
whether a marker written into the plaintext shows in any file of the hub's own.

At the end, the router's peak RSS (the hub process, whatever the sizes).  Never run by the
tests: timings are machine-dependent.  The embedded broker keeps every byte in memory (each
document twice: on hub.ingress and on the documents topic), so 1 GiB needs some 3 GiB free.

    .venv/bin/python -m bench.documents --sizes 10M,100M,1G
    .venv/bin/python -m bench.documents --sizes 10M,1G --via gateways
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


def row(size: int, times: tuple[float, float, float], rss: tuple[float, float], same: bool) -> dict:
    """One line of the table: (started, sent, done) times and (sender, receiver) peak RSS."""
    started, sent_at, done = times
    return {
        "size": size,
        "seconds": done - started,
        "send_s": sent_at - started,
        "receive_s": done - sent_at,
        "mb_s": size / 1e6 / (done - started),
        "send_rss_mib": rss[0],
        "receive_rss_mib": rss[1],
        "identical": same,
    }


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
    return row(size, (started, sent_at, done), (send_rss, receive_rss), same)


MARKER = b"BENCH-PLAINTEXT-MARKER-\xe8\xaf\x81\xe6\x8d\xae"


def mark(path: Path, every: int = 64 << 20) -> None:
    """Write MARKER into the file every ``every`` bytes, to look for it in clear later."""
    with path.open("r+b") as f:
        for at in range(4096, path.stat().st_size - len(MARKER), every):
            f.seek(at)
            f.write(MARKER)


def in_clear_under(home: Path) -> list[str]:
    """Files of the hub's own (not the agencies' gateway and connector folders) holding MARKER."""
    agencies = {home / "gateway", home / "connectors"}
    found = []
    for path in home.rglob("*"):
        if path.is_file() and not any(a in path.parents for a in agencies):
            with path.open("rb") as f:
                while block := f.read(1 << 24):
                    if MARKER in block:
                        found.append(str(path.relative_to(home)))
                        break
    return found


def through_gateways(
    hub: HubProcess, gateways: dict, size: int, recipient: str, work: Path
) -> dict:
    from tests.gatewayproc import GatewayProcess

    mib: GatewayProcess = gateways[SENDER]
    to: GatewayProcess = gateways[recipient]
    source = work / f"evidence-{size}.pdf"
    write_pdf(source, size)
    mark(source)
    with source.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    message = work / "message.json"
    message.write_text(json.dumps({"family": "clue_transfer", "to": recipient, "encrypt": True,
                                   "payload": load_example("clue_transfer")},
                                  ensure_ascii=False), "utf-8")  # fmt: skip
    started = time.perf_counter()
    posted = subprocess.run(
        ["curl", "-sS", "-f", f"{mib.url}/v1/messages", "-H", f"Authorization: Bearer {mib.token}",
         "-H", f"Idempotency-Key: bench-{recipient}-{size}",
         "-F", f"message=<{message};type=application/json",
         "-F", f"document=@{source};filename=evidence.pdf;type=application/pdf"],
        capture_output=True, timeout=3600, check=True,
    )  # fmt: skip
    sent_at = time.perf_counter()
    message_id = json.loads(posted.stdout)["id"]
    while True:
        status, inbox = to.curl("GET", "/v1/inbox?wait=10")
        if status == 200 and any(m["id"] == message_id for m in inbox):
            break
        if time.perf_counter() - sent_at > 3600:
            raise RuntimeError(f"{message_id} did not reach {recipient}'s gateway in an hour")
    to.curl("POST", f"/v1/inbox/{message_id}/ack")  # the next reading waits for the next one
    saved = work / f"received-{size}.pdf"
    subprocess.run(
        ["curl", "-sS", "-f", "-o", str(saved), "-H", f"Authorization: Bearer {to.token}",
         f"{to.url}/v1/messages/{message_id}/documents/1"],
        timeout=3600, check=True,
    )  # fmt: skip
    done = time.perf_counter()
    with saved.open("rb") as f:
        same = hashlib.file_digest(f, "sha256").hexdigest() == digest
    source.unlink()
    saved.unlink()
    rss = (peak_rss_mib(mib.proc.pid), peak_rss_mib(to.proc.pid))
    return row(size, (started, sent_at, done), rss, same)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10M,100M", help="comma-separated, e.g. 10M,100M,1G")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument(
        "--via",
        choices=["cli", "gateways"],
        default="cli",
        help="hub send/inbox processes (cli) or curl through two hub gateways",
    )
    ap.add_argument("--cold", action="store_true",
                    help="with --via gateways: time the first document to each agency, without "
                    "a small one first")  # fmt: skip
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    if len(sizes) > len(RECIPIENTS):
        ap.error(f"at most {len(RECIPIENTS)} sizes")
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        work = Path(tmp)
        hub = start_hub(work / "home")
        gateways: dict = {}
        try:
            if args.via == "gateways":
                from tests.gatewayproc import start_gateway

                for address in [SENDER, *RECIPIENTS[: len(sizes)]]:
                    gateways[address] = start_gateway(hub, address, timeout=120)
                if not args.cold:
                    # A running deployment has its topics and readers: the first document to an
                    # agency makes its documents topic and opens its gateway's reader (~1.3 s).
                    for recipient in RECIPIENTS[: len(sizes)]:
                        print(f"warming up: 64 KiB to {recipient} …", flush=True)
                        through_gateways(hub, gateways, 64 << 10, recipient, work)
            rows = []
            for size, recipient in zip(sizes, RECIPIENTS, strict=False):
                print(f"hub: {size / 2**20:,.0f} MiB to {recipient} via {args.via} …", flush=True)
                result = (
                    through_gateways(hub, gateways, size, recipient, work)
                    if gateways
                    else through_hub(hub, size, recipient, work)
                )
                # At least 100 records: the rate of 21 (10 MiB) swung 2-fold from run to run.
                chunks = max(100, -(-size // CHUNK_PLAINTEXT))
                print(f"relay: {chunks} records of {CHUNK_BYTES} bytes …", flush=True)
                rate, seen = asyncio.run(
                    relay_rate(hub.state.bootstrap, chunks, CHUNK_BYTES, args.timeout)
                )
                result["relay_mb_s"] = rate * CHUNK_BYTES / 1e6
                result["relay_records"] = seen
                rows.append(result)
            router_rss = peak_rss_mib(hub.process.pid)
            clear = in_clear_under(hub.home) if gateways else None
        finally:
            for g in gateways.values():
                g.stop()
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
    if clear is not None:
        print(f"plaintext marker in hub files: {clear or 'none'}")


if __name__ == "__main__":
    main()
