"""On a running hub, every connector receives signed tree heads of the audit log, keeps the last
one, accepts each next one only with a consistency proof from it, and the hub's own log proves
the head the connector kept.  Connectors cosign the heads they checked, and the hub shows how
many agencies vouched for a head; a directory the operators publish on hub.directory (a key
rotation, a pinned head) reaches a running connector that holds its own copy of the file."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from connectors.client import Connector
from connectors.witness import TREE_HEADS_CHECKED
from hub.audit.transparency import ORIGIN
from tests.e2e.test_end_to_end import payload
from tests.hubproc import start_hub, wait_until


def test_a_connector_keeps_the_tree_head_and_checks_each_next_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hub = start_hub(
        tmp_path_factory.mktemp("tree-heads"), extra_env={"HUB_TREE_HEAD_INTERVAL_S": "1"}
    )
    try:
        mib = hub.connector("MIB@350582")
        psb = hub.connector("PSB@350582")
        assert psb.witness is not None

        def kept_size_beyond(size: int, timeout: float = 60) -> int:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                psb.consume(lambda msg: None, follow=False, idle_timeout_s=2)
                kept = psb.witness.kept(ORIGIN)  # type: ignore[union-attr]
                if kept is not None and kept.tree_size > size:
                    return kept.tree_size
            raise TimeoutError(f"no tree head beyond {size} records")

        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        first = kept_size_beyond(0)
        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        second = kept_size_beyond(first)
        assert psb.rejected == 0  # every head was consistent with the one before
        psb.close()
        shown = json.loads(hub.cli("audit", "witness", "PSB@350582", "--json").stdout)
        assert shown["tree_size"] == second and shown["gaps"] == []
        proof = json.loads(hub.cli("audit", "consistency", "--old-size", str(second)).stdout)
        assert proof["old_root"] == shown["root_hash"]  # the hub's log proves what PSB keeps

        # -- two agencies cosign the heads they checked ------------------------------------
        psb = hub.connector("PSB@350582")
        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        third = kept_size_beyond(second)
        mib.consume(lambda msg: None, follow=False, idle_timeout_s=2)  # MIB checks its heads too

        def vouched() -> list[str]:
            out = hub.cli("audit", "head", "--witnesses", "2", "--json", "--check",
                          check=False).stdout  # fmt: skip
            return json.loads(out)["agencies"] if out else []

        wait_until(lambda: len(vouched()) >= 2, timeout=60, what="two agencies' cosignatures")
        head = json.loads(hub.cli("audit", "head", "--witnesses", "2", "--json").stdout)
        assert head["tree_size"] >= third and head["refused"] == 0
        assert sorted(head["agencies"]) == ["MIB@350582", "PSB@350582"]
        assert head["note"].count("\u2014") == 3  # the operators' signature and two cosignatures
        assert hub.cli("audit", "verify", "--witnesses", "2").returncode == 0
        short = hub.cli("audit", "verify", "--witnesses", "3", check=False)
        assert short.returncode == 1 and "NOT WITNESSED" in short.stdout

        # -- the directory travels on hub.directory ----------------------------------------
        copy = hub.home / "agency-copy" / "directory.json"
        copy.parent.mkdir()
        copy.write_bytes(hub.settings.directory_path.read_bytes())
        fin_settings = replace(hub.settings, directory_file=str(copy))
        fin = Connector.from_settings(fin_settings, "FIN@350582")
        fin.follow_directory()
        assert fin.directory_file is not None
        serial = fin.directory_file.current.serial
        made = hub.cli("keys", "rotate", "MIB@350582").stdout.split()
        rotated = next(k for k in made if k.startswith("ed25519:"))
        hub.cli("directory", "publish", "--pin-head")
        wait_until(
            lambda: fin.directory().serial > serial and fin.directory().key_owner(rotated),
            timeout=60,
            what="the published directory to reach the running connector",
        )
        assert json.loads(copy.read_text())["directory"]["serial"] == fin.directory().serial
        [pin] = fin.directory().audit_heads
        assert pin.tree_size >= third
        # The rotated key is usable at once: FIN opens what MIB signs with it.
        mib2 = hub.connector("MIB@350582")
        assert mib2.key is not None and mib2.key.key_id == rotated
        sent = mib2.send("invoice_verification_request", "FIN@350582",
                         payload(mib2, "invoice_verification_request"))  # fmt: skip
        # FIN's first head is checked against the pinned one, never taken on trust.
        firsts = TREE_HEADS_CHECKED.labels("first")._value.get()
        got: list[str] = []
        wait_until(
            lambda: fin.consume(lambda m: got.append(m.message_id), follow=False,
                                idle_timeout_s=2) >= 0 and sent in got,
            timeout=60,
            what="FIN to receive MIB's message signed with the rotated key",
        )  # fmt: skip
        assert fin.rejected == 0
        assert TREE_HEADS_CHECKED.labels("first")._value.get() == firsts
        fin.close()
        mib2.close()
    finally:
        hub.stop()
