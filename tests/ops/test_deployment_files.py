"""The deployment files of ops/kafka and ops/systemd: the three KRaft nodes agree on their quorum
and refuse what is not allowed; every unit starts a hub command that exists."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from hub.cli.main import build_parser

OPS = Path(__file__).resolve().parents[2] / "ops"


def properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_three_kraft_nodes_share_one_quorum_and_deny_by_default() -> None:
    nodes = [properties(OPS / "kafka" / f"server-{n}.properties") for n in (1, 2, 3)]
    assert [n["node.id"] for n in nodes] == ["1", "2", "3"]
    assert len({n["controller.quorum.voters"] for n in nodes}) == 1
    for n, node in enumerate(nodes, start=1):
        assert node["process.roles"] == "broker,controller"
        assert node["advertised.listeners"] == f"SASL_SSL://kafka-{n}:9093"
        assert node["ssl.keystore.location"].endswith(f"kafka-{n}.p12")
        # No listener in clear, SCRAM for clients, TLS between controllers.
        assert "PLAINTEXT" not in node["listener.security.protocol.map"]
        assert node["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert node["allow.everyone.if.no.acl.found"] == "false"
        assert node["authorizer.class.name"].endswith("StandardAuthorizer")
        assert (node["default.replication.factor"], node["min.insync.replicas"]) == ("3", "2")
        assert node["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize("unit", sorted((OPS / "systemd").glob("*.service")), ids=lambda p: p.name)
def test_each_unit_starts_a_hub_command_that_exists(unit: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit, encoding="utf-8")
    service = parser["Service"]
    exec_start = service["ExecStart"]
    inner = re.search(r"exec (/opt/hub/venv/bin/hub .*?)'?$", exec_start)
    line = inner.group(1) if inner else exec_start
    argv = shlex.split(line.replace("%i", "1").replace("$((6070 + 1))", "6071"))
    argv = [a.replace("$(echo 1 | tr - @)", "MIB@350582") for a in argv]
    assert argv[0] == "/opt/hub/venv/bin/hub"
    args = build_parser().parse_args(argv[1:])
    assert callable(args.func)
    assert service["KillSignal"] == "SIGINT"  # the router finishes its batch and leaves the group
    assert service["User"].startswith("hub")
    assert parser["Install"]["WantedBy"] == "multi-user.target"
