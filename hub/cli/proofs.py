"""``hub audit prove`` and ``hub audit consistency``: the transfer log's transparency proofs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hub.core.config import Settings
from hub.core.errors import NotFound, UsageError


def cmd_prove(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.store import AuditStore
    from hub.audit.transparency import prove

    proof = prove(
        AuditStore(settings.effective_audit_url), args.message_id, key=_operators_key(settings)
    )
    if not proof["records"]:
        raise NotFound(f"no audit records of {args.message_id}")
    print(json.dumps(proof, ensure_ascii=False, indent=2))
    return 0


def cmd_consistency(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.store import AuditStore
    from hub.audit.transparency import consistency

    store = AuditStore(settings.effective_audit_url)
    size = store.count()
    if not 0 < args.old_size <= size:
        raise UsageError(f"--old-size must be between 1 and the log's {size} records")
    print(json.dumps(consistency(store, args.old_size), indent=2))
    return 0


def cmd_witness(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.witness import TreeHeadWitness
    from hub.audit.store import AuditStore
    from hub.audit.transparency import origin_of
    from hub.trust.address import Address

    address = Address.parse(args.address)
    memory = settings.home / "connectors" / f"{address}.handled.db"
    if not memory.exists():
        raise NotFound(f"{address} has no connector memory in {memory.parent}")
    witness = TreeHeadWitness(memory)
    log_suite = AuditStore(settings.effective_audit_url, migrate_schema=False).suite
    kept, gaps = witness.kept(origin_of(log_suite)), witness.gaps()
    witness.close()
    out = {
        "connector": str(address),
        "tree_size": kept.tree_size if kept else None,
        "root_hash": kept.root_hash if kept else None,
        "checkpoint": kept.checkpoint if kept else None,
        "gaps": [{"old_size": g[0], "old_root": g[1], "new_size": g[2], "new_root": g[3]}
                 for g in gaps],
    }  # fmt: skip
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    elif kept is None:
        print(f"{address} has checked no tree head yet")
    else:
        print(f"{address} keeps the audit log's head of {kept.tree_size} records, root "
              f"{kept.root_hash}; {len(gaps)} gap(s) it could not check")  # fmt: skip
    return 0


def _operators_key(settings: Settings) -> Any:
    from hub.trust.directory import DirectoryError, load_signing_key
    from hub.trust.directory_file import load_directory
    from hub.trust.operators import OPERATORS

    try:
        return load_signing_key(settings.keys_dir, OPERATORS, load_directory(settings))
    except DirectoryError:
        return None  # the proof is still checkable; its head is then unsigned


def add_parsers(audit: Any, fmt: Any) -> None:
    s = audit.add_parser(
        "prove",
        formatter_class=fmt,
        help="inclusion proofs of a message's records in the transparency log",
        description="Print, as JSON, the RFC 9162 inclusion proof of every audit record of "
        "MESSAGE_ID in the Merkle tree over the whole log, with the tree head signed by the hub "
        "operators as a C2SP checkpoint.  ops/audit/verify_export.py --prove checks it against an "
        "export, without the hub.",
    )
    s.add_argument("message_id", metavar="MESSAGE_ID")
    s.set_defaults(func=cmd_prove)
    s = audit.add_parser(
        "consistency",
        formatter_class=fmt,
        help="prove an earlier tree head is a prefix of the current one",
        description="Print, as JSON, the RFC 9162 consistency proof from the tree of the first "
        "--old-size records to the current tree: nothing recorded up to then was changed or "
        "removed.",
    )
    s.add_argument("--old-size", type=int, required=True)
    s.set_defaults(func=cmd_consistency)
    s = audit.add_parser(
        "witness",
        formatter_class=fmt,
        help="the tree head a connector keeps, and the gaps it could not check",
        description="Print the last head of the audit log that AGENCY@REGION's connector on "
        "this host checked and kept (each new head it receives must prove it extends this "
        "one), and the gaps: heads it received without a proof from the head it held.  Check "
        "a gap with `hub audit consistency --old-size N`.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_witness)
