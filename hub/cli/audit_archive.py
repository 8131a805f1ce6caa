"""``hub audit archive``: a month of the audit log as a signed, self-verifying archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hub.audit.archive import write_archive
from hub.audit.store import AuditStore
from hub.cli.output import progress
from hub.core.config import Settings
from hub.core.errors import UsageError
from hub.trust.suites import PublicKey


def cmd_archive(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.witnesses import witnessed_head
    from hub.cli.audit_verify import directory_or_empty
    from hub.core.clock import clock_from_settings
    from hub.storage.cosignatures import CosignatureRows
    from hub.storage.engine import make_engine
    from hub.storage.tree_heads import TreeHeads
    from hub.trust.directory import load_signing_key
    from hub.trust.operators import OPERATORS

    directory = directory_or_empty(settings)
    key = load_signing_key(settings.keys_dir, OPERATORS, directory)
    engine = make_engine(settings.effective_store_url)
    tree_heads, rows = TreeHeads(engine), CosignatureRows(engine)

    def heads(first: int, last: int) -> list[dict[str, Any]]:
        """Every published head of the range with the cosignatures that verify."""
        out = []
        for size in rows.cosigned_sizes(first, last):
            w = witnessed_head(tree_heads, rows, directory, None, size)
            if not w.problem:
                out.append({"tree_size": size, "agencies": w.agencies, "note": w.note})
        return out

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty: an archive is written once, into a new folder")
    try:
        manifest = write_archive(AuditStore(settings.effective_audit_url), out, args.month, key,
                                 heads=heads, progress=progress("archiving"),
                                 now=clock_from_settings(settings)())  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"archived {manifest['records']} records of {args.month} (#{manifest['first_seq']}.."
          f"#{manifest['last_seq']}) into {out}; root {manifest['root'][:16]}…, signed by "
          f"{key.key_id}; check with python3 ops/audit/verify_export.py {out}")  # fmt: skip
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from hub.audit.prune import PruneError, prune
    from hub.cli.audit_verify import directory_or_empty
    from hub.trust.operators import OPERATORS

    directory = directory_or_empty(settings)
    operators = directory.connectors.get(OPERATORS)
    ids = {k.key_id for k in operators.keys} if operators else set()

    def trusted(key_id: str) -> PublicKey | None:
        return directory.public_key(key_id) if key_id in ids else None

    store = AuditStore(args.url or settings.effective_audit_url)
    try:
        done = prune(store, Path(args.archive), trusted, progress=progress("pruning"))
    except (PruneError, OSError, KeyError, ValueError) as exc:
        raise UsageError(f"not pruned: {exc}") from exc
    if sys.stderr.isatty():
        print(file=sys.stderr)
    span = f"#{done.first_seq}..#{done.last_seq}"
    if done.before:
        print(f"nothing to prune: the records of {done.month} ({span}) were pruned from this "
              f"archive before; {args.archive} holds them")  # fmt: skip
    else:
        print(f"pruned {done.deleted} records of {done.month} ({span}) from the live log; their "
              f"hashes stay, the archive {args.archive} holds them")  # fmt: skip
    return 0
