"""The ``hub`` command line.  ``hub COMMAND --help`` explains each command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.audit.cli import AuditCliError
from hub.config import ConfigError, Settings, describe, load_settings

log = logging.getLogger("hub")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "payloads"


class CliError(Exception):
    """An error to print without a traceback; exit status 1 (2 for usage errors)."""


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*(str(x) for x in row)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


# -- commands ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from hub.runner import run_hub

    return run_hub(settings, worker_loglevel=args.log_level or settings.log_level)


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector
    from hub.families import FAMILIES
    from hub.jsonpayload import PayloadError, from_json

    fam = FAMILIES.get(args.family)
    if fam is None:
        raise CliError(f"unknown family {args.family!r}; known: {', '.join(sorted(FAMILIES))}")
    try:
        data = json.loads(Path(args.payload).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read payload {args.payload}: {exc}") from exc
    with Connector.from_settings(settings, args.sender) as conn:
        schema = (
            conn.registry.version(fam.schema_stem, args.schema_version)
            if args.schema_version
            else conn.registry.latest(fam.schema_stem)
        )
        try:
            payload = from_json(schema.raw, data)
        except PayloadError as exc:
            raise CliError(f"{args.payload} does not fit {schema.label}: {exc}") from exc
        message_id = conn.send(
            args.family,
            args.recipient,
            payload,
            correlation_id=args.correlation_id,
            causation_id=args.causation_id,
            schema_version=schema.version,
            message_id=args.message_id,
        )
    print(message_id)
    return 0


def cmd_inbox(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector, InboxMessage

    def show(msg: InboxMessage) -> None:
        if args.json:
            _print_json(msg.to_json())
        else:
            env = msg.envelope
            print(
                f"{env.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z  {env.family:<30} "
                f"{env.message_id}  from {env.sender}  to {env.recipient}"
                + ("  (fallback)" if msg.via == "fallback" else "")
            )
            if args.verbose_payload:
                print(json.dumps(msg.to_json()["payload"], ensure_ascii=False, indent=2))
        sys.stdout.flush()

    # Consuming signs for each original taken (签收), which needs the connector's key.
    signing = args.consume and not args.no_receipt
    with Connector.from_settings(settings, args.address, signing=signing) as conn:
        if args.consume:
            n = conn.consume(
                show, follow=args.follow, idle_timeout_s=args.idle, auto_receipt=signing
            )
            log.info("handled %d message(s) for %s", n, conn.address)
        else:
            count = 0
            for msg in conn.messages(follow=args.follow, idle_timeout_s=args.idle):
                show(msg)
                count += 1
            if not args.json:
                print(f"{count} message(s) in the inbox of {conn.address}", file=sys.stderr)
    return 0


def cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    from hub.directory import DirectoryError, create_key
    from hub.envelope import Address

    try:
        address = Address.parse(args.address)
        key = create_key(settings.directory_path, settings.keys_dir, address, args.name or "")
    except (ValueError, DirectoryError) as exc:
        raise CliError(str(exc)) from exc
    print(key.key_id)
    print(
        f"registered {key.key_id} for {address} in {settings.directory_path}; "
        f"private key kept in {settings.keys_dir / str(address)}",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from hub.directory import Directory

    directory = Directory.load(settings.directory_path)
    rows = [
        [str(c.address), k.key_id, k.status, k.created_at, c.name]
        for c in directory.connectors.values()
        for k in c.keys
    ]
    if args.json:
        for r in rows:
            _print_json(
                dict(zip(["address", "key_id", "status", "created_at", "name"], r, strict=True))
            )
    elif rows:
        print(_table(rows, ["CONNECTOR", "KEY ID", "STATUS", "CREATED", "NAME"]))
    else:
        print(
            f"no connectors in {settings.directory_path}; add one with `hub keys new AGENCY@REGION`"
        )
    return 0


def _store(settings: Settings):
    from hub.store import Store

    return Store(settings.effective_store_url)


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    rows = store.dead_letters(reason=args.reason, limit=args.limit)
    if args.json:
        for r in rows:
            r = dict(r)
            r["original_size"] = len(r.pop("original"))
            _print_json(r)
        return 0
    if not rows:
        print("the dead-letter queue is empty")
        return 0
    print(
        _table(
            [
                [
                    r["dead_letter_id"],
                    f"{r['dead_lettered_at']:%Y-%m-%d %H:%M:%S}",
                    r["reason"],
                    r["family"] or "-",
                    r["sender"] or "-",
                    r["recipient"] or "-",
                    r["replay_count"],
                    r["detail"][:70],
                ]
                for r in rows
            ],
            ["ID", "AT (UTC)", "REASON", "FAMILY", "SENDER", "RECIPIENT", "REPLAYS", "DETAIL"],
        )
    )
    return 0


def _one_dead_letter(store: Any, wanted: str) -> dict[str, Any]:
    matches = store.find_dead_letters(wanted)
    if not matches:
        raise CliError(f"no dead letter {wanted}; see `hub dlq list`")
    if len(matches) > 1:
        raise CliError(f"{wanted} is ambiguous: {', '.join(matches[:5])}")
    return store.dead_letter(matches[0])


def cmd_dlq_show(args: argparse.Namespace, settings: Settings) -> int:
    row = _one_dead_letter(_store(settings), args.id)
    row["original_size"] = len(row["original"])
    row["original_hex_head"] = row.pop("original")[:64].hex()
    _print_json(row) if args.json else print(
        json.dumps(row, ensure_ascii=False, indent=2, default=str)
    )
    return 0


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from kafka import KafkaProducer

    from hub.app import REPLAY_HEADER
    from hub.state import resolve_bootstrap
    from hub.topics import INGRESS

    store = _store(settings)
    row = _one_dead_letter(store, args.id)
    producer = KafkaProducer(
        bootstrap_servers=resolve_bootstrap(settings),
        acks="all",
        **settings.kafka_python_security(),
    )
    try:
        key = (row["message_id"] or row["dead_letter_id"]).encode()
        producer.send(
            INGRESS.name,
            value=row["original"],
            key=key,
            headers=[(REPLAY_HEADER, row["dead_letter_id"].encode())],
        ).get(30)
    finally:
        producer.close()
    store.mark_replayed(row["dead_letter_id"], datetime.now(UTC))
    print(
        f"replayed {row['dead_letter_id']} ({row['reason']}) to {INGRESS.name}; "
        "if it fails again it appears as a new dead letter with replay_of set"
    )
    return 0


def cmd_families(args: argparse.Namespace, settings: Settings) -> int:
    from hub.families import FAMILIES
    from hub.schemas import SchemaRegistry

    registry = SchemaRegistry.load(settings.schemas_path)
    rows = []
    for fam in FAMILIES.values():
        versions = registry.versions(fam.schema_stem)
        rows.append(
            [
                fam.name,
                fam.title,
                ", ".join(f"v{v.version}" for v in versions),
                versions[-1].fingerprint.hex(),
            ]
        )
    print(_table(rows, ["FAMILY", "TITLE", "VERSIONS", "CURRENT FINGERPRINT"]))
    return 0


def cmd_policy(args: argparse.Namespace, settings: Settings) -> int:
    from hub.families import FAMILIES
    from hub.policy import load_policy

    policy = load_policy(settings.policy_path, set(FAMILIES))
    print(f"# {settings.policy_path}")
    print(_table([list(r) for r in policy.allowed_pairs()], ["FAMILY", "FROM", "TO", "REGIONS"]))
    return 0


def _answerable(settings: Settings, message_id: str):
    """The original a lifecycle command answers, from this hub's ledger."""
    from connectors.client import OriginalRef
    from hub.envelope import Address
    from hub.ledger import Ledger

    entry = Ledger(_store(settings).engine).entry(message_id)
    if entry is None:
        raise CliError(f"{message_id} is not in the ledger of {settings.home}")
    return OriginalRef(message_id, Address.parse(entry["sender"]))


def cmd_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.client import Connector

    original = _answerable(settings, args.message_id)
    with Connector.from_settings(settings, args.sender) as conn:
        if args.command == "receipt":
            mid = conn.receipt(original, received_by=args.by, note=args.note)
        elif args.command == "accept":
            mid = conn.accept(original, case_number=args.case_number)
        elif args.command == "return":
            mid = conn.return_(original, args.reason)
        elif args.command == "feedback":
            mid = conn.feedback(original, args.note, percent=args.percent)
        else:
            sanctions: dict[str, int] = {}
            for item in args.sanction or []:
                kind, _, count = item.partition("=")
                try:
                    sanctions[kind.strip().upper()] = int(count or 1)
                except ValueError as exc:
                    raise CliError(f"--sanction {item!r}: use KIND or KIND=COUNT") from exc
            mid = conn.close_case(
                original,
                args.result,
                recovered_fen=args.recovered_fen,
                penalties_fen=args.penalties_fen,
                sanctions=sanctions,
                note=args.note,
            )
    print(mid)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from hub.clock import clock_from_settings
    from hub.ledger import Ledger

    if not settings.store_url and not (settings.home / "hub.db").exists():
        raise CliError(f"no ledger in {settings.home}: no hub has run from there yet")
    board = Ledger(_store(settings).engine).board(clock_from_settings(settings)())
    if args.json:
        for row in board:
            _print_json(row)
        return 0
    if not board:
        print("the ledger is empty: nothing was delivered yet")
        return 0

    def median(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value / 3600:.1f} h" if value >= 3600 else f"{value / 60:.0f} min"

    rows = [
        [
            b["sender"],
            b["recipient"],
            b["family"],
            b["open"],
            b["due_within_24h"],
            b["overdue"],
            b["warned"],
            b["breached"],
            b["escalated"],
            median(b["median_time_to_receipt_s"]),
        ]
        for b in board
    ]
    headers = ["FROM", "TO", "FAMILY", "OPEN", "DUE<24H", "OVERDUE", "WARNED", "BREACHED"]
    print(_table(rows, [*headers, "ESCALATED", "MEDIAN RECEIPT"]))
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    for key, value in describe(settings).items():
        print(f"{key:<24} {value}")
    return 0


# -- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="hub",
        formatter_class=fmt,
        description="Interagency data-sharing hub for medical-insurance fund supervision.",
        epilog="Settings come from hub.toml and HUB_* environment variables; `hub config` "
        "shows them.  Start with `hub run`, then `hub send` and `hub inbox` in another terminal.",
    )
    p.add_argument("--config", help="TOML config file (default: $HUB_CONFIG or ./hub.toml)")
    p.add_argument("--home", help="hub working directory (default: .hub)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser(
        "run",
        formatter_class=fmt,
        help="run the hub (router worker)",
        description="Run the router worker.  With no Kafka bootstrap servers "
        "configured, start the embedded Tansu broker on a free loopback port and "
        "create a development directory with keys for demo connectors.  Stop "
        "with Ctrl-C; the embedded broker stops with it.",
    )
    s.add_argument("--bootstrap", help="Kafka bootstrap servers (overrides HUB_KAFKA_BOOTSTRAP)")
    s.add_argument("--web-port", type=int, help="port of /metrics (default: a free port)")
    s.add_argument(
        "--log-level",
        choices=["debug", "info", "warn", "error"],
        help="worker log level (default: the log_level setting, info)",
    )
    s.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "send",
        formatter_class=fmt,
        help="sign and send one message",
        description="Sign a payload as the sending connector and publish it.  "
        "Prints the new message id.",
        epilog=f"Example payloads: {EXAMPLES}",
    )
    s.add_argument("family", help="message family (see `hub families`)")
    s.add_argument(
        "--from",
        dest="sender",
        required=True,
        metavar="AGENCY@REGION",
        help="the sending connector, whose private key signs",
    )
    s.add_argument("--to", dest="recipient", required=True, metavar="AGENCY@REGION")
    s.add_argument(
        "--payload", required=True, metavar="FILE.json", help="payload as JSON; dates as YYYY-MM-DD"
    )
    s.add_argument("--correlation-id", help="the message this one answers")
    s.add_argument("--causation-id", help="the message that caused this one")
    s.add_argument("--schema-version", type=int, help="payload schema version (default: newest)")
    s.add_argument("--message-id", help="reuse an id when retrying a send (default: new UUID)")
    s.set_defaults(func=cmd_send)

    s = sub.add_parser(
        "inbox",
        formatter_class=fmt,
        help="show a connector's inbox",
        description="Print the messages in a connector's inbox, verified against "
        "the directory and decoded.  By default it lists everything without "
        "consuming; --consume reads as the connector's consumer group and commits.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--follow", "-f", action="store_true", help="keep waiting for new messages")
    s.add_argument("--json", action="store_true", help="one JSON object per message")
    s.add_argument(
        "--payload",
        dest="verbose_payload",
        action="store_true",
        help="also print each payload (human format)",
    )
    s.add_argument(
        "--consume",
        action="store_true",
        help="consume as the connector group: commit offsets, skip handled ids",
    )
    s.add_argument(
        "--no-receipt",
        action="store_true",
        help="with --consume, do not sign for (签收) the messages taken",
    )
    s.add_argument(
        "--idle",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="without --follow, stop after this long with no new message (default 3)",
    )
    s.set_defaults(func=cmd_inbox)

    keys = sub.add_parser(
        "keys",
        help="connector signing keys",
        description="Manage Ed25519 signing keys in the agency directory.",
    )
    ks = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    s = ks.add_parser(
        "new",
        help="create a key pair and register it",
        description="Create an Ed25519 key pair for AGENCY@REGION, keep the private "
        "key in the keys folder (mode 0600) and register the public key in the "
        "directory.  Prints the key id.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--name", help="a readable name for the connector")
    s.set_defaults(func=cmd_keys_new)
    s = ks.add_parser(
        "list",
        help="list connectors and keys",
        description="List every connector in the directory with its keys.",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_keys_list)

    dlq = sub.add_parser(
        "dlq",
        help="dead-letter queue",
        description="Inspect and replay messages the router could not deliver.",
    )
    ds = dlq.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)
    s = ds.add_parser(
        "list",
        help="list dead letters, newest first",
        description="List dead letters with their reason codes, newest first.",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    s.add_argument("--reason", help="only this reason code")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=cmd_dlq_list)
    s = ds.add_parser(
        "show",
        help="show one dead letter",
        description="Show one dead letter (ID or a unique prefix).",
    )
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_dlq_show)
    s = ds.add_parser(
        "replay",
        help="re-submit a dead letter",
        description="Re-submit the original bytes of a dead letter to the ingress "
        "topic, after its cause was fixed (a key registered, the policy changed…).",
    )
    s.add_argument("id", help="dead letter id, or a unique prefix")
    s.set_defaults(func=cmd_dlq_replay)

    s = sub.add_parser(
        "families",
        help="list message families and schema versions",
        description="List the message families with their Avro schema versions.",
    )
    s.set_defaults(func=cmd_families)
    s = sub.add_parser(
        "policy",
        help="show the routing policy",
        description="Show which agency may send which family to whom.",
    )
    s.set_defaults(func=cmd_policy)
    _lifecycle_parsers(sub, fmt)
    s = sub.add_parser(
        "status",
        formatter_class=fmt,
        help="the SLA board",
        description="Per sender, recipient connector and family: hand-offs still open, "
        "obligations due within 24 h and overdue, warnings, breaches and escalations raised "
        "on open obligations, and the median time to receipt.  Read from the ledger.",
    )
    s.add_argument("--json", action="store_true", help="one JSON object per row")
    s.set_defaults(func=cmd_status)
    from hub.audit.cli import add_parser as add_audit_parser
    from hub.report.cli import add_parser as add_report_parser

    add_audit_parser(sub, fmt)
    add_report_parser(sub, fmt)

    s = sub.add_parser(
        "config",
        help="show the effective settings",
        description="Print every setting with its effective value.",
    )
    s.set_defaults(func=cmd_config)
    return p


def _lifecycle_parsers(sub: Any, fmt: Any) -> None:
    specs = [
        ("receipt", "sign for a message (签收)"),
        ("accept", "accept a message (受理)"),
        ("return", "return a message with a reason (退回)"),
        ("feedback", "report progress on an accepted message (反馈)"),
        ("close", "close an accepted message with its result (办结)"),
    ]
    for name, title in specs:
        s = sub.add_parser(
            name,
            formatter_class=fmt,
            help=title,
            description=f"{title[0].upper()}{title[1:]}, as the connector that received it.  "
            "The answer goes to the original's sender; prints its message id.",
        )
        s.add_argument(
            "--as",
            dest="sender",
            required=True,
            metavar="AGENCY@REGION",
            help="the connector that received the message, whose key signs",
        )
        s.add_argument("message_id", help="the id of the message answered")
        if name == "receipt":
            s.add_argument("--by", help="who signed (office or officer)")
            s.add_argument("--note")
        elif name == "accept":
            s.add_argument("--case-number", help="your own file number")
        elif name == "return":
            s.add_argument("--reason", required=True, help="why it is returned")
        elif name == "feedback":
            s.add_argument("--note", required=True)
            s.add_argument("--percent", type=int, help="progress 0..100")
        else:
            s.add_argument(
                "--result",
                required=True,
                choices=["VERIFIED_TRUE", "NOT_TRUE", "PARTIALLY_TRUE", "OTHER"],
            )
            s.add_argument("--recovered-fen", type=int, default=0, help="sums recovered, fen")
            s.add_argument("--penalties-fen", type=int, default=0, help="penalties, fen")
            s.add_argument(
                "--sanction",
                action="append",
                metavar="KIND[=COUNT]",
                help="INTERVIEW, SUSPENSION, AGREEMENT_TERMINATED, BLACKLISTED, FINED, "
                "REFERRED_TO_JUDICIAL or OTHER; repeatable",
            )
            s.add_argument("--note")
        s.set_defaults(func=cmd_lifecycle)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("kafka", "aiokafka", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        overrides: dict[str, Any] = {"home": args.home}
        if args.command == "run":
            overrides.update(kafka_bootstrap=args.bootstrap, web_port=args.web_port)
        settings = load_settings(args.config, **overrides)
        return args.func(args, settings)
    except (CliError, ConfigError) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    except AuditCliError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from hub.directory import DirectoryError
        from hub.policy import PolicyError
        from hub.schemas import SchemaError
        from hub.state import NoHubRunning

        if isinstance(exc, NoHubRunning | DirectoryError | PolicyError | SchemaError | LookupError):
            print(f"hub: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
