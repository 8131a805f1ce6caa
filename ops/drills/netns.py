"""Hosts for drills: Linux network namespaces on two bridges, one for Kafka and one for SQL.

Each host is a namespace with a loopback and one veth per network it is on; each network is a
bridge in a namespace of its own, so nothing is added to the machine's own namespace and nothing
listens on or talks to any address but the namespaces' (10.77.1.0/24 for Kafka, 10.77.2.0/24 for
SQL).  A host's link to one network can be taken down and up again: a partition from the broker
or from the store alone.  Needs root (``ip netns``); :func:`available` says why not otherwise.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

NETS = {"kafka": "10.77.1", "sql": "10.77.2"}


@dataclass(frozen=True)
class Host:
    name: str
    #: The host's last octet on each network it is on.
    on: dict[str, int] = field(default_factory=dict)

    def address(self, net: str) -> str:
        return f"{NETS[net]}.{self.on[net]}"


def available() -> str | None:
    """None when namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"hd-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Network:
    """The namespaces of one drill, made by :meth:`up` and removed by :meth:`down`."""

    def __init__(self, hosts: Sequence[Host], tag: str | None = None) -> None:
        self.hosts = {h.name: h for h in hosts}
        self.tag = tag or f"hd{os.getpid() % 10000}"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def _ifname(self, host: str, net: str) -> str:
        index = list(self.hosts).index(host)
        return f"{net[0]}{index}"  # short: interface names have 15 characters at most

    def up(self) -> Network:
        for net in NETS:
            switch = self.ns(f"sw-{net}")
            ip("netns", "add", switch)
            ip("-n", switch, "link", "add", "br0", "type", "bridge")
            ip("-n", switch, "link", "set", "br0", "up")
        for host in self.hosts.values():
            name = self.ns(host.name)
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
            for net, octet in host.on.items():
                inside, outside = self._ifname(host.name, net), self._ifname(host.name, net) + "p"
                switch = self.ns(f"sw-{net}")
                ip("link", "add", inside, "netns", name, "type", "veth", "peer", "name",
                   outside, "netns", switch)  # fmt: skip
                ip("-n", switch, "link", "set", outside, "master", "br0", "up")
                ip("-n", name, "addr", "add", f"{NETS[net]}.{octet}/24", "dev", inside)
                ip("-n", name, "link", "set", inside, "up")
        return self

    def down(self) -> None:
        for name in [*self.hosts, "sw-kafka", "sw-sql"]:
            subprocess.run(["ip", "netns", "del", self.ns(name)], capture_output=True)

    def cut(self, host: str, net: str) -> None:
        """Take ``host``'s link to ``net`` down (a partition from everything on it)."""
        ip("-n", self.ns(host), "link", "set", self._ifname(host, net), "down")

    def heal(self, host: str, net: str) -> None:
        ip("-n", self.ns(host), "link", "set", self._ifname(host, net), "up")

    def command(self, host: str, argv: Sequence[str], user: str | None = None) -> list[str]:
        as_user = ["runuser", "-u", user, "--"] if user else []
        return ["ip", "netns", "exec", self.ns(host), *as_user, *argv]

    def start(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out: IO[bytes] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            return subprocess.Popen(self.command(host, argv, user), env=env, cwd=cwd,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)  # fmt: skip
        finally:
            if not isinstance(out, int):
                out.close()

    def run(
        self, host: str, argv: Sequence[str], *, env: dict[str, str] | None = None,
        user: str | None = None, timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(self.command(host, argv, user), env=env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip

    def __enter__(self) -> Network:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
