"""National scale, measured: a signed directory of every county-level region and what it costs.

A faithful synthetic of GB/T 2260's shape (31 provinces, 342 cities, 3,200 counties; codes
PP0000, PPCC00, PPCCXX under the real provinces' prefixes) with MIB, PSB, PROC, COURT, FIN,
HEALTH and CDI at every level, each with a real signing and encryption key: 25,011 connectors.
The run prints, beside the same figures for the 泉州 development directory (21 connectors):

* making and signing the directory, its size on disk and on the directory topic (gzip);
* loading it with its signature verified, and the memory that takes;
* the router's decision per message (signature, policy, route) against each directory;
* ``hub topics plan`` and ``hub acls`` (how many topics, partitions and ACL lines, how long);
* publishing it on an embedded broker's ``hub.directory`` and a follower taking it;
* creating inbox and documents topics on the embedded broker (``--topics N`` connectors' worth)
  and the broker's memory afterwards.

    .venv/bin/python -m bench.national                 # ~2 min on 2 cores
    .venv/bin/python -m bench.national --topics 2000   # more topics on the embedded broker
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from hub.core.config import Settings
from hub.routing.policy import load_policy
from hub.routing.router import Delivered, Router
from hub.trust.address import Address
from hub.trust.directory import Connector, Directory, KeyEntry
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.trust.signed import TrustAnchor, issued_now
from hub.wire.envelope import seal
from hub.wire.families import FAMILIES
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaRegistry

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

#: The 31 provincial-level divisions of the mainland, by their GB/T 2260 prefixes.
PROVINCES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
             "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
             "63", "64", "65"]  # fmt: skip
AGENCIES = ["MIB", "PSB", "PROC", "COURT", "FIN", "HEALTH", "CDI"]


def regions(cities: int = 342, counties: int = 3200) -> Iterator[str]:
    """Every province, city and county code of the synthetic, provinces first."""
    for p in PROVINCES:
        yield f"{p}0000"
    city_codes = [f"{PROVINCES[i % 31]}{i // 31 + 1:02d}00" for i in range(cities)]
    yield from city_codes
    for i in range(counties):
        city = city_codes[i % cities]
        yield f"{city[:4]}{i // cities + 1:02d}"


def timed(what: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    out = what()
    return out, time.perf_counter() - started


def national_directory(counties: int) -> tuple[Directory, dict[Address, SigningKey]]:
    """The directory, with the private signing keys of one county's MIB and PSB."""
    now = issued_now()
    connectors: dict[Address, Connector] = {}
    held: dict[Address, SigningKey] = {}
    every = list(regions(counties=counties))
    county = every[-1]  # the last county made: the directory's whole index is in front of it
    for region in every:
        for agency in AGENCIES:
            address = Address(agency, region)
            key, enc = SigningKey.generate(), EncryptionKey.generate()
            if region == county and agency in ("MIB", "PSB"):
                held[address] = key
            connectors[address] = Connector(
                address, f"{agency} {region}",
                (KeyEntry(key.key_id, key.public_b64, now),),
                (KeyEntry(enc.key_id, enc.public_b64, now),),
            )  # fmt: skip
    return Directory(connectors, serial=1, issued_at=now), held


def small_directory() -> tuple[Directory, dict[Address, SigningKey]]:
    """The development directory's shape: the 泉州 connectors."""
    from hub.trust.directory import DEV_CONNECTORS

    directory, held = Directory(), {}
    for text in DEV_CONNECTORS:
        address = Address.parse(text)
        key = SigningKey.generate()
        held[address] = key
        directory = directory.with_key(address, key).with_encryption_key(
            address, EncryptionKey.generate()
        )
    return directory, held


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_cost(path: Path, anchor: TrustAnchor) -> tuple[float, float]:
    """Seconds to load and verify the signed file, and the MiB the loaded directory holds."""
    loaded, seconds = timed(lambda: Directory.load(path, anchor))
    assert loaded.connectors
    del loaded
    tracemalloc.start()  # a second load, traced (tracing slows it down)
    again = Directory.load(path, anchor)
    held_mib = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    assert again.connectors
    return seconds, held_mib


def decision_cost(directory: Directory, held: dict[Address, SigningKey], n: int = 2000) -> float:
    """Microseconds per Router.decide of a signed clue MIB@350582 → PSB@350582."""
    registry = SchemaRegistry.load(ROOT / "schemas" / "avro")
    policy = load_policy(Settings().policy_path, set(FAMILIES))
    router = Router(registry, lambda: directory, policy)
    schema = registry.latest(FAMILIES["clue_transfer"].schema_stem)
    payload = json.loads((ROOT / "examples" / "payloads" / "clue_transfer.json").read_text())
    mib = next(a for a in held if a.agency == "MIB" and a.region != "350500")
    psb = Address("PSB", mib.region)
    from connectors.messages import encryption_target

    raws = [
        seal(registry, family="clue_transfer", payload_schema=schema,
             payload=from_json(schema.raw, payload), sender=mib, recipient=psb, key=held[mib],
             encrypt_to=encryption_target(directory, psb))[1]
        for _ in range(50)
    ]  # fmt: skip
    first = router.decide(raws[0])
    assert isinstance(first, Delivered), first
    started = time.perf_counter()
    for i in range(n):
        router.decide(raws[i % len(raws)])
    return (time.perf_counter() - started) / n * 1e6


def plans(directory: Directory) -> dict[str, Any]:
    from hub.cli.cluster import topic_plan
    from hub.wire.acls import plan as acl_plan
    from hub.wire.topics import hub_topics

    addresses = sorted(directory.addresses())
    (topics, seconds) = timed(lambda: topic_plan(hub_topics(addresses), None))
    acls, acl_s = timed(lambda: acl_plan(addresses, app_id="hub-router"))
    return {
        "topics": len(topics),
        "partitions": sum(int(row[1]) for row in topics),
        "plan_s": seconds,
        "acls": len(acls),
        "acls_s": acl_s,
    }


def on_broker(document: bytes, anchor: TrustAnchor, work: Path, topics: int) -> dict[str, Any]:
    """Publish the signed directory on an embedded broker and have a follower take it; then
    create ``topics`` connectors' inbox and documents topics; the broker's RSS before/after."""
    from kafka.admin import KafkaAdminClient

    from hub.runtime.admin import ensure_topics
    from hub.runtime.broker import EmbeddedBroker
    from hub.runtime.directory_topic import DirectoryFollower, publish
    from hub.trust.directory_file import DirectoryFile
    from hub.wire.topics import DIRECTORY, connector_topics

    out: dict[str, Any] = {}
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, [DIRECTORY])
        try:
            _, out["publish_s"] = timed(lambda: publish(broker.bootstrap, document, {}))
            out["published"] = f"{out['publish_s']:.1f} s"
        except Exception as exc:  # too large for the producer or the topic
            out["published"] = f"no: {type(exc).__name__}: {str(exc)[:120]}"
        reader = work / f"follower-{len(document)}" / "directory.json"
        reader.parent.mkdir()
        follower = DirectoryFollower(DirectoryFile(reader, anchor), broker.bootstrap).start()
        started = time.perf_counter()
        while follower.taken == 0 and time.perf_counter() - started < 120:
            time.sleep(0.05)
        follower.stop()
        out["followed"] = (
            f"{time.perf_counter() - started:.1f} s" if follower.taken else "not within 120 s"
        )
        out["broker_rss_before_mib"] = _rss_of(broker.process)
        every = [(agency, region) for region in regions() for agency in AGENCIES]
        specs = [s for agency, region in every[:topics] for s in connector_topics(agency, region)]
        started = time.perf_counter()
        if specs:
            ensure_topics(broker.bootstrap, specs, timeout_s=600)
        out["topics_created"] = len(specs)
        out["topics_s"] = time.perf_counter() - started
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        _, out["list_topics_s"] = timed(admin.list_topics)
        admin.close()
        out["broker_rss_after_mib"] = _rss_of(broker.process)
    return out


def hub_start(directory: Directory, operators: SigningKey, anchor: TrustAnchor, work: Path,
              name: str) -> dict[str, Any]:  # fmt: skip
    """`hub run` on its embedded broker with ``directory`` (the operators' connector added): the
    seconds to "hub ready:" and to its router joining, and the hub process's RSS then."""
    import os
    import signal
    import subprocess
    import sys

    from hub.trust.directory import private_key_path
    from hub.trust.operators import OPERATORS

    home = work / f"hub-{name}"
    keys = home / "keys"
    hub_key, hub_enc = SigningKey.generate(), EncryptionKey.generate()
    hub_key.save(private_key_path(keys, OPERATORS, hub_key.key_id))
    hub_enc.save(private_key_path(keys, OPERATORS, hub_enc.key_id))
    now = issued_now()
    with_hub = directory.with_connector(Connector(
        OPERATORS, "hub operators", (KeyEntry(hub_key.key_id, hub_key.public_b64, now),),
        (KeyEntry(hub_enc.key_id, hub_enc.public_b64, now),),
    ))  # fmt: skip
    replace(with_hub, serial=2).write_signed(home / "directory.json", operators)
    anchor.save(home / "directory-anchor.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(home), HUB_DEV_DIRECTORY="never", HUB_AUDIT_SINK="false",
               HUB_TREE_HEAD_INTERVAL_S="3600")  # fmt: skip
    log = home / "hub-run.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    found: dict[str, Any] = {}
    try:
        while time.perf_counter() - started < 300 and proc.poll() is None:
            text = log.read_text(errors="replace")
            if "ready_s" not in found and "hub ready:" in text:
                found["ready_s"] = time.perf_counter() - started
            if "ready: routing with" in text:
                found["routing_s"] = time.perf_counter() - started
                found["rss_mib"] = _rss_of(proc)
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    if "routing_s" not in found:
        raise RuntimeError(f"hub run did not route:\n{log.read_text()[-2000:]}")
    return found


def _rss_of(process: Any) -> float:
    status = Path(f"/proc/{process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def measure(counties: int, topics: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="hub-national-"))
    operators = SigningKey.generate()
    anchor = TrustAnchor.of(operators.public)
    rows: list[tuple[str, str, str]] = []

    def row(what: str, small: object, national: object) -> None:
        rows.append((what, str(small), str(national)))

    (big, big_held), gen_s = timed(lambda: national_directory(counties))
    small, small_held = small_directory()
    sizes, loads, docs = {}, {}, {}
    for name, directory in (("small", small), ("national", big)):
        path = work / f"{name}.json"
        _, sign_s = timed(
            lambda d=directory, p=path: replace(d, serial=1).write_signed(p, operators)
        )
        docs[name] = path.read_bytes()
        sizes[name] = (len(docs[name]), len(gzip.compress(docs[name])), sign_s)
        loads[name] = load_cost(path, anchor)
    row("connectors", len(small.connectors), len(big.connectors))
    row("make 2 keys each (s)", "-", f"{gen_s:.1f}")
    row("sign and write (s)", f"{sizes['small'][2]:.3f}", f"{sizes['national'][2]:.2f}")
    row("signed file (MB)", f"{sizes['small'][0] / 1e6:.3f}", f"{sizes['national'][0] / 1e6:.1f}")
    row("gzip (MB)", f"{sizes['small'][1] / 1e6:.3f}", f"{sizes['national'][1] / 1e6:.1f}")
    row("load + verify (s)", f"{loads['small'][0]:.3f}", f"{loads['national'][0]:.2f}")
    row("memory held (MiB)", f"{loads['small'][1]:.1f}", f"{loads['national'][1]:.0f}")
    row("Router.decide (µs/msg)", f"{decision_cost(small, small_held):.0f}",
        f"{decision_cost(big, big_held):.0f}")  # fmt: skip
    h_small = hub_start(small, operators, anchor, work, "small")
    h_big = hub_start(big, operators, anchor, work, "national")
    row("hub run: start → ready (s)", f"{h_small['ready_s']:.1f}", f"{h_big['ready_s']:.1f}")
    row("hub run: start → routing (s)", f"{h_small['routing_s']:.1f}",
        f"{h_big['routing_s']:.1f}")  # fmt: skip
    row("hub run: RSS routing (MiB)", f"{h_small['rss_mib']:.0f}", f"{h_big['rss_mib']:.0f}")
    p_small, p_big = plans(small), plans(big)
    row("topics planned", p_small["topics"], p_big["topics"])
    row("partitions planned", p_small["partitions"], p_big["partitions"])
    row("hub topics plan (s)", f"{p_small['plan_s']:.3f}", f"{p_big['plan_s']:.2f}")
    row("ACLs", p_small["acls"], p_big["acls"])
    row("hub acls (s)", f"{p_small['acls_s']:.3f}", f"{p_big['acls_s']:.2f}")
    b_small = on_broker(docs["small"], anchor, work, 0)
    b_big = on_broker(docs["national"], anchor, work, topics)
    row("publish on hub.directory", b_small["published"], b_big["published"])
    row("a follower takes it", b_small["followed"], b_big["followed"])
    row("embedded broker RSS (MiB)", f"{b_small['broker_rss_before_mib']:.0f}",
        f"{b_big['broker_rss_before_mib']:.0f}")  # fmt: skip
    row(f"create {b_big['topics_created']} topics (s)", "-", f"{b_big['topics_s']:.1f}")
    row("broker RSS after them (MiB)", "-", f"{b_big['broker_rss_after_mib']:.0f}")
    row("list topics (s)", "-", f"{b_big['list_topics_s']:.2f}")
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'泉州 dev':>12}  {'national':>14}")
    for what, a, b in rows:
        print(f"{what:<{width}}  {a:>12}  {b:>14}")
    print(f"peak RSS of this process: {rss_mib():.0f} MiB; files in {work}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--counties", type=int, default=3200)
    ap.add_argument("--topics", type=int, default=1000,
                    help="connectors whose inbox and documents topics are created on the "
                    "embedded broker (default 1000)")  # fmt: skip
    args = ap.parse_args()
    measure(args.counties, args.topics)


if __name__ == "__main__":
    main()
