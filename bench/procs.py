"""Processes around a benchmark: extra workers, PostgreSQL databases, memory, py-spy profiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.databases import postgres_database


def children(pid: int) -> list[tuple[int, str]]:
    """Direct children of ``pid`` with their command lines."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append((int(child), cmd))
    return out


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (0 when it is gone)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def postgres_urls() -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases for the hub store and the audit store, dropped afterwards."""
    with ExitStack() as stack:
        store = stack.enter_context(postgres_database())
        audit = stack.enter_context(postgres_database())
        yield {"HUB_STORE_URL": store, "HUB_AUDIT_URL": audit}


class Profiler:
    """py-spy sampling each router process while the hub moves the batch."""

    def __init__(self, out: Path, pids: dict[str, int]) -> None:
        if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
            raise SystemExit("--profile needs py-spy: pip install -e '.[bench]'")
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.out = out
        self.pids = {n: p for n, p in pids.items() if n in ("router", "worker 2", "audit sink")}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            output = self.out / f"{name.replace(' ', '-')}.folded"
            cmd = [self.exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
            self.procs.append(
                subprocess.Popen(
                    [*cmd, "--output", str(output)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(2)
            proc.wait(30)

    def summarise(self, top: int = 25) -> None:
        for path in sorted(self.out.glob("*.folded")):
            print(f"\nprofile {path} (share of samples that include each frame):")
            for line in summarise(path, top):
                print("  " + line)


FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def summarise(path: Path, top: int = 25) -> list[str]:
    """Inclusive share per function (hub code and the libraries it spends time in)."""
    inclusive: Counter[str] = Counter()
    idle = total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        if frames and ("select" in frames[-1] or "epoll" in frames[-1] or "poll " in frames[-1]):
            idle += n
        seen: set[str] = set()
        for frame in frames:
            m = FRAME.match(frame.strip())
            if not m:
                continue
            name = f"{m['func']} ({short(m['file'])})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
    if not total:
        return ["no samples"]
    lines = [f"{total} samples, {100 * idle / total:.0f} % waiting in select/epoll"]
    interesting = [
        (name, n)
        for name, n in inclusive.most_common()
        if any(k in name for k in ("hub/", "sqlalchemy", "fastavro", "aiokafka", "cryptography"))
    ]
    for name, n in interesting[:top]:
        lines.append(f"{100 * n / total:5.1f} %  {name}")
    return lines


def short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "/hub/"):
        if marker in file:
            return file.split(marker, 1)[1] if marker != "/hub/" else "hub/" + file.split(marker)[1]
    return file
