"""``hub audit``: verify, trail, prove, consistency, search, export, checkpoint, migrate, sink.

For compliance officers: tables readable in a terminal (times in China Standard Time), and
``--json`` for machines.  Exit status of ``verify``: 0 intact, 1 tampered (naming the first bad
record), 2 for usage errors.  This module holds the parsers; each command's module is imported
only when it runs (``hub.cli.lazy``).
"""

from __future__ import annotations

import argparse
from typing import Any

from hub.audit.kinds import KINDS
from hub.cli import proofs
from hub.cli.lazy import later


def add_parsers(sub: Any, fmt: Any) -> None:
    audit = sub.add_parser(
        "audit",
        formatter_class=fmt,
        help="the tamper-evident transfer log: verify, trail, search, export",
        description="The transfer log (audit store, setting audit_url): every hub event, "
        "hash-chained and checkpointed with the hub operators' key (Ed25519, or SM2 under the "
        "gm suite).  Metadata and hashes only; no clue contents, names or ID numbers.",
    )
    asub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)

    s = asub.add_parser(
        "verify",
        formatter_class=fmt,
        help="check the hash chain and the signed checkpoints",
        description="Recompute the hash chain from the first record and check every "
        "checkpoint's signature.  Exit 0 when intact; 1 naming the first bad record when a "
        "record was altered, deleted, inserted or reordered.",
        epilog="example: hub audit verify --checkpoints /mnt/offsite/checkpoints.jsonl",
    )
    s.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="checkpoints kept outside the database (`hub audit checkpoint --export`); repeatable",
    )
    s.add_argument(
        "--tsa-ca",
        metavar="FILE",
        help="verify the checkpoints' RFC 3161 tokens against these CA certificates (PEM; "
        "default: the tsa_ca_file setting)",
    )
    s.add_argument("--key", action="append", metavar="KEY_ID=BASE64",
                   help="also trust this public key for checkpoints")  # fmt: skip
    s.add_argument("--witnesses", type=int, default=0, metavar="K",
                   help="also require a tree head cosigned by at least K agencies")  # fmt: skip
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_verify", "cmd_verify"))

    s = asub.add_parser(
        "archive",
        formatter_class=fmt,
        help="write a month of the log as a signed, self-verifying archive",
        description="Write the records the sink recorded in MONTH into a new folder: the "
        "records, one extract per agency, the month's checkpoints, timestamp tokens and "
        "cosigned tree heads, and a manifest signed with the operators' key that carries the "
        "tree hashes of every earlier record, so the archive verifies alone "
        "(ops/audit/verify_export.py).  Streams: memory does not grow with the month.",
        epilog="example: hub audit archive --month 2026-11 --out /mnt/archive/audit-2026-11",
    )
    s.add_argument("--month", required=True, metavar="YYYY-MM")
    s.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    s.set_defaults(func=later("hub.cli.audit_archive", "cmd_archive"))

    s = asub.add_parser(
        "prune",
        formatter_class=fmt,
        help="delete an archived month's records from the live log (their hashes stay)",
        description="Check the archive (signed by the operators' key, the same records and root "
        "as the live log, the next month to prune) and delete its records from the live log, "
        "keeping each record's chain hash: tree heads and proofs go on as before.  Needs the "
        "database owner's URL on PostgreSQL (the hub's role may not delete).  Resumable.",
    )
    s.add_argument("--archive", required=True, metavar="DIR")
    s.add_argument("--url", help="the audit store as its owner (default: audit_url)")
    s.set_defaults(func=later("hub.cli.audit_archive", "cmd_prune"))

    s = asub.add_parser(
        "head",
        formatter_class=fmt,
        help="the latest tree head the agencies cosigned, with their cosignatures",
        description="Print the tree head with the largest size any agency cosigned as a C2SP "
        "signed note: the operators' checkpoint and every cosignature that verifies against "
        "the directory (on stderr: how many agencies).  Exit 1 when no head is cosigned.",
    )
    s.add_argument("--size", type=int, help="that head instead of the latest cosigned")
    s.add_argument("--witnesses", type=int, default=1, metavar="K",
                   help="the latest head at least K agencies cosigned (default 1)")  # fmt: skip
    s.add_argument(
        "--check", action="store_true", help="also recompute the log's root at that size"
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_verify", "cmd_head"))

    s = asub.add_parser(
        "trail",
        formatter_class=fmt,
        help="the chain of custody of one message, signatures re-verified",
        description="Every recorded step of a message and of the replies and SLA events "
        "about it, oldest first; each record's hash and each message signature is "
        "re-verified.  Exit 1 if any step fails.",
        epilog="example: hub audit trail 4e165b42-7b77-4663-9380-cb2a321cd5b7",
    )
    s.add_argument("message_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_trail"))
    proofs.add_parsers(asub, fmt)

    s = asub.add_parser(
        "search",
        formatter_class=fmt,
        help="find records by agency, family, region, time, status, event",
        description="Records matching every filter given, oldest first.  --region includes "
        "the regions under it (350500 finds 350582 too).  Dates are China Standard Time.",
        epilog="example: hub audit search --agency PSB --family clue_transfer "
        "--since 2024-06-17 --until 2024-06-23 --status CLOSED",
    )
    s.add_argument("--agency", help="sender, recipient or inbox agency (MIB, PSB, …)")
    s.add_argument("--family", help="message family (clue_transfer, closure, …)")
    s.add_argument("--region", help="6-digit region code of a party")
    s.add_argument("--since", help="YYYY-MM-DD or ISO-8601 instant (inclusive)")
    s.add_argument("--until", help="YYYY-MM-DD (inclusive) or ISO-8601 instant (exclusive)")
    s.add_argument("--status", help="DELIVERED, RECEIVED, ACCEPTED, RETURNED, IN_PROGRESS, "
                   "CLOSED or DEAD_LETTERED")  # fmt: skip
    s.add_argument("--kind", action="append", choices=KINDS, help="event kind; repeatable")
    s.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_search"))

    s = asub.add_parser(
        "export",
        formatter_class=fmt,
        help="CSV + JSON Lines + checkpoints + manifest, re-verifiable without the hub",
        description="Write audit.csv, audit.jsonl, checkpoints.jsonl and manifest.json (file "
        "hashes, hash rule, chain head, checkpoint keys) into --out.  An outsider re-verifies "
        "them with ops/audit/verify_export.py (Python standard library + cryptography).",
    )
    s.add_argument("--out", required=True, help="directory to write into")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_export"))

    s = asub.add_parser(
        "checkpoint",
        formatter_class=fmt,
        help="sign the chain head now and/or export the checkpoints",
        description="The sink signs checkpoints by itself (audit_checkpoint_every records or "
        "audit_checkpoint_interval_s seconds); this signs one now, with the hub operators' "
        "key, and --export copies all checkpoints to a file to keep elsewhere.",
    )
    s.add_argument("--export", metavar="FILE", help="write all checkpoints (JSON Lines) here")
    s.add_argument("--no-sign", action="store_true", help="only export, do not sign")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_checkpoint"))

    s = asub.add_parser(
        "migrate",
        formatter_class=fmt,
        help="bring the audit store's schema up to date (Alembic)",
        description="Every audit store opened by the hub is migrated to the newest schema; "
        "this does it explicitly, or moves to --revision (e.g. base, to drop the tables).",
    )
    s.add_argument("--revision", default="head")
    s.add_argument(
        "--force",
        action="store_true",
        help="allow a downgrade of a log that holds records (it is journalled outside the log)",
    )
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_migrate"))

    s = asub.add_parser(
        "sink",
        formatter_class=fmt,
        help="run the audit sink as its own process",
        description="Read hub.audit into the audit store.  `hub run` does this itself unless "
        "audit_sink = false; run this instead to keep the sink in a process of its own.",
    )
    s.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the running hub's)")
    s.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port (default: audit_metrics_port; 0: none)",
    )
    s.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    s.set_defaults(func=later("hub.cli.audit_commands", "cmd_sink"))
