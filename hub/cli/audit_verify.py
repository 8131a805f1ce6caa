"""``hub audit verify``: the hash chain, the signed checkpoints, their RFC 3161 tokens and the
agencies' cosignatures of tree heads (``--witnesses``); ``hub audit head`` shows the latter."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.audit.chain import Checkpoint, verify_chain
from hub.audit.keys import checkpoint_keys
from hub.audit.pruned import pruned_hash, pruned_start
from hub.audit.stamps import check_timestamps
from hub.audit.store import AuditStore
from hub.audit.witnesses import Witnessed, witnessed_head
from hub.cli.output import progress
from hub.core.config import Settings
from hub.storage.cosignatures import CosignatureRows
from hub.storage.tree_heads import TreeHeads
from hub.trust.directory import Directory


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    store = AuditStore(settings.effective_audit_url)
    checkpoints = store.checkpoints()
    external = 0
    for path in args.checkpoints or []:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                checkpoints.append(Checkpoint.from_json(json.loads(line)))
                external += 1
    verdict = verify_chain(
        store.records(),
        checkpoints,
        checkpoint_keys(directory_or_empty(settings), args.key or []),
        progress=progress("verifying"),
        suite=store.suite,
        pruned=pruned_hash(store),
        start=pruned_start(store),
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    stamps, stamp_problem = check_timestamps(store, args.tsa_ca or settings.tsa_ca_file)
    stamp_note = _missing_stamps(store, settings, len(checkpoints) - external, stamps,
                                 stamp_problem)  # fmt: skip
    w, witness_problem = _witnesses(args, settings, store) if args.witnesses else (None, "")
    ok = verdict.ok and not stamp_problem and not witness_problem
    if args.json:  # one document, whose "ok" is the exit status
        out = verdict.to_json()
        out["chain_ok"], out["ok"] = verdict.ok, ok
        out["external_checkpoints"] = external
        out["timestamps_verified"], out["timestamp_problem"] = stamps, stamp_problem
        out["timestamp_note"] = stamp_note
        if w is not None:
            out["witnesses"] = {**w.to_json(), "required": args.witnesses,
                                "problem": witness_problem}  # fmt: skip
        print(json.dumps(out, ensure_ascii=False))
        return 0 if ok else 1
    if verdict.ok:
        print(
            f"audit log intact: {verdict.records} records, head #{verdict.head_seq} "
            f"{verdict.head_hash[:16]}…; {verdict.checkpoints} checkpoint(s) verified"
            + (f" ({external} from outside the database)" if external else "")
            + (f"; {stamps} timestamp(s) verified" if stamps else "")
        )
        if stamp_problem:
            print(f"TIMESTAMPS NOT VERIFIED: {stamp_problem}")
        if stamp_note:
            print(f"note: {stamp_note}")
        if verdict.uncovered:
            print(
                f"note: records #{verdict.last_checkpoint_seq + 1}..#{verdict.head_seq} are "
                "chained but not yet covered by a signed checkpoint (`hub audit checkpoint`)"
            )
    else:
        print(f"AUDIT LOG NOT INTACT: {verdict.problem}")
        print(
            f"({verdict.records} records before it verified; "
            f"{verdict.checkpoints} checkpoint(s) matched)"
        )
    if w is not None:
        if witness_problem:
            print(f"NOT WITNESSED: {witness_problem}")
        else:
            print(f"tree head {w.tree_size} cosigned by {len(w.agencies)} agencies: "
                  + ", ".join(w.agencies))  # fmt: skip
    return 0 if ok else 1


def _missing_stamps(
    store: AuditStore, settings: Settings, signed: int, verified: int, problem: str | None
) -> str | None:
    """A word about timestamps when a TSA is configured: how many of the ``signed`` checkpoints
    have none (the log is intact, but its independent time is missing), or how many tokens went
    unchecked."""
    if not settings.tsa_url or problem:
        return None
    from hub.audit.stamps import Stamps

    stamped = signed - Stamps(store).waiting()  # a count: no token is read again
    if signed and not stamped:
        return (f"tsa_url is set but none of the {signed} checkpoint(s) has a timestamp yet: is "
                "the TSA reachable? (hub status, hub_audit_timestamp_failures_total)")  # fmt: skip
    if stamped < signed:
        return f"{signed - stamped} of {signed} checkpoint(s) have no timestamp yet"
    if not verified:
        return f"{stamped} timestamp(s) kept, not checked: give --tsa-ca (or tsa_ca_file)"
    return None


def _witnesses(
    args: argparse.Namespace, settings: Settings, store: AuditStore
) -> tuple[Witnessed, str]:
    """Whether at least ``--witnesses`` agencies cosigned a head of this log, and the problem."""
    w = witnessed(settings, store, cosigners=args.witnesses)
    problem = w.problem or (
        f"head {w.tree_size} is cosigned by {len(w.agencies)} agencies, fewer than "
        f"{args.witnesses}" if len(w.agencies) < args.witnesses else ""
    )  # fmt: skip
    return w, problem


def witnessed(
    settings: Settings, store: AuditStore | None, size: int | None = None, cosigners: int = 1
) -> Witnessed:
    from sqlalchemy import inspect

    from hub.storage.engine import make_engine

    if not settings.store_url and not (settings.home / "hub.db").exists():
        return Witnessed(problem=f"no hub store in {settings.home}: no tree head was published "
                         "from here (run this where the hub runs, or set store_url)")  # fmt: skip
    engine = make_engine(settings.effective_store_url)
    if not inspect(engine).has_table("tree_heads"):
        return Witnessed(problem="the hub store has no tree heads yet: no hub has published one")
    directory = directory_or_empty(settings)
    rows = CosignatureRows(engine)
    return witnessed_head(TreeHeads(engine), rows, directory, store, size, cosigners)


def cmd_head(args: argparse.Namespace, settings: Settings) -> int:
    """The latest cosigned tree head (or that of ``--size``) with every cosignature that
    verifies, as a C2SP signed note."""
    store = AuditStore(settings.effective_audit_url) if args.check else None
    w = witnessed(settings, store, args.size, args.witnesses)
    if args.json:
        print(json.dumps(w.to_json(), ensure_ascii=False))
    elif w.problem:
        print(f"no witnessed head: {w.problem}", file=sys.stderr)
    else:
        print(w.note, end="")
        print(f"cosigned by {len(w.agencies)} agencies: {', '.join(w.agencies)}"
              + (f" ({w.refused} cosignature(s) did not verify)" if w.refused else ""),
              file=sys.stderr)  # fmt: skip
    return 1 if w.problem else 0


def directory_or_empty(settings: Settings) -> Directory:
    """The signed directory for the keys it names; without one (no anchor here, say) an empty
    directory, so checkpoints are reported untrusted rather than believed."""
    from hub.trust.directory import DirectoryError
    from hub.trust.directory_file import load_directory

    try:
        return load_directory(settings)
    except DirectoryError as exc:
        print(f"warning: no trusted directory ({exc}); give keys with --key", file=sys.stderr)
        return Directory()
