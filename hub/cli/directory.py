"""``hub directory``: the operators' commands for the signed agency directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hub.cli.output import print_json
from hub.core.config import Settings
from hub.core.errors import UsageError


def _authority(args: argparse.Namespace, settings: Settings) -> Any:
    from hub.trust.authority import DirectoryAuthority

    return DirectoryAuthority.from_settings(settings, Path(args.key) if args.key else None)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.authority import init_directory_key
    from hub.trust.directory import Directory, DirectoryError

    key_path = Path(args.key) if args.key else settings.directory_key_path
    try:
        key = init_directory_key(key_path, settings.directory_anchor_path,
                                 settings.crypto_suite)  # fmt: skip
    except DirectoryError as exc:
        raise UsageError(str(exc)) from exc
    from hub.trust.authority import DirectoryAuthority
    from hub.trust.directory_file import trust_anchor

    if not settings.directory_path.exists():
        DirectoryAuthority(settings.directory_path, trust_anchor(settings), key).publish(
            Directory(), base=Directory()
        )
    print(key.key_id)
    print(
        f"directory key {key.key_id} in {key_path} (keep it offline); trust anchor "
        f"{settings.directory_anchor_path}: give it to every router and connector",
        file=sys.stderr,
    )
    return 0


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory import DirectoryError
    from hub.trust.requests import KeyRequest

    try:
        authority = _authority(args, settings)
        for name in args.requests:
            request = KeyRequest.load(Path(name))
            if request.kind == "register" and not (
                args.yes or request.fingerprint in (args.confirm or [])
            ):
                raise UsageError(
                    f"{name}: a first registration of {request.body.get('address')} is applied "
                    f"only once its fingerprint {request.fingerprint} was confirmed with the "
                    "agency: give --confirm FINGERPRINT (or --yes)"
                )
            directory = authority.apply(request)
            print(
                f"applied {name}: {request.kind} {request.body.get('address')} "
                f"({request.fingerprint}); directory serial {directory.serial}",
                file=sys.stderr,
            )
    except DirectoryError as exc:
        raise UsageError(str(exc)) from exc
    return 0


def cmd_sign(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory import DirectoryError

    try:
        directory = _authority(args, settings).sign_unsigned(Path(args.unsigned))
    except DirectoryError as exc:
        raise UsageError(str(exc)) from exc
    print(
        f"signed {args.unsigned} as {settings.directory_path}, serial {directory.serial}",
        file=sys.stderr,
    )
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory_file import load_directory

    d = load_directory(settings)
    info = {
        "path": str(settings.directory_path),
        "anchor": str(settings.directory_anchor_path),
        "serial": d.serial,
        "issued_at": d.issued_at,
        "connectors": len(d.connectors),
        "signing_keys": sum(len(c.keys) for c in d.connectors.values()),
        "encryption_keys": sum(len(c.encryption_keys) for c in d.connectors.values()),
        "verified": True,
    }
    if args.json:
        print_json(info)
    else:
        print(
            f"{info['path']}: serial {d.serial}, issued {d.issued_at}, {info['connectors']} "
            f"connectors; signature verified against {info['anchor']}"
        )
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """The signed directory (with the latest tree head pinned, given --pin-head) on the topic."""
    from dataclasses import replace

    from hub.runtime.directory_topic import publish
    from hub.runtime.state import resolve_bootstrap
    from hub.storage.engine import make_engine
    from hub.storage.tree_heads import TreeHeads
    from hub.trust.directory import DirectoryError
    from hub.trust.directory_file import load_directory
    from hub.trust.pinned import PinnedHead

    try:
        directory = load_directory(settings)
        if args.pin_head:
            head = TreeHeads(make_engine(settings.effective_store_url)).latest()
            if head is None:
                raise UsageError("no tree head to pin yet: the hub publishes one as its log grows")
            pin = PinnedHead(str(head.payload["origin"]), head.tree_size, head.root_hash)
            others = tuple(h for h in directory.audit_heads if h.origin != pin.origin)
            directory = _authority(args, settings).publish(
                replace(directory, audit_heads=(*others, pin)), base=directory
            )
            print(f"pinned tree head {pin.tree_size} ({pin.root_hash[:16]}…); directory serial "
                  f"{directory.serial}", file=sys.stderr)  # fmt: skip
        document = settings.directory_path.read_bytes()
        offset = publish(resolve_bootstrap(settings), document, settings.kafka_python_security())
    except DirectoryError as exc:
        raise UsageError(str(exc)) from exc
    print(f"directory serial {directory.serial} published on hub.directory (offset {offset}): "
          "every router, connector and gateway following it takes it", file=sys.stderr)  # fmt: skip
    return 0


def _key_option(parser: Any) -> None:
    parser.add_argument(
        "--key", metavar="FILE", help="the directory key (default: directory_key_file)"
    )


def add_parsers(sub: Any, fmt: Any) -> None:
    d = sub.add_parser(
        "directory",
        help="the signed agency directory (operators)",
        formatter_class=fmt,
        description="The agency directory is signed by the operators' directory key, which is "
        "not the hub's runtime key and may live offline; routers and connectors load only a "
        "directory whose signature verifies against their trust anchor "
        "(directory_anchor_file).  Agencies make their own keys and send requests "
        "(`hub keys new --request`, `hub keys rotate --request`).",
    )
    ds = d.add_subparsers(dest="directory_command", metavar="SUBCOMMAND", required=True)
    s = ds.add_parser(
        "init",
        help="create the directory key and the trust anchor",
        description="Create the operators' directory key (private, keep it offline) and the "
        "trust anchor naming it (public, for every router and connector); sign an empty "
        "directory if there is none.  Refuses to replace either file.",
    )
    s.add_argument("--key", metavar="FILE", help="where the key goes (default: directory_key_file)")
    s.set_defaults(func=cmd_init)
    s = ds.add_parser(
        "apply",
        help="apply agencies' key requests and sign the new directory",
        description="Check each request (the proof of possession of its new key; a rotation's "
        "authorisation by the connector's active key; a first registration's fingerprint, "
        "confirmed with the agency) and sign the directory that results, one serial each.",
    )
    s.add_argument("requests", nargs="+", metavar="REQUEST.json")
    _key_option(s)
    s.add_argument(
        "--confirm", action="append", metavar="FINGERPRINT", help="a confirmed fingerprint"
    )
    s.add_argument("--yes", action="store_true", help="the fingerprints were all confirmed")
    s.set_defaults(func=cmd_apply)
    s = ds.add_parser(
        "sign",
        help="sign an unsigned (older) directory once",
        description="Sign a directory written before directories were signed (format 1) and "
        "write it as the configured directory.",
    )
    s.add_argument("unsigned", metavar="UNSIGNED.json")
    _key_option(s)
    s.set_defaults(func=cmd_sign)
    s = ds.add_parser(
        "show",
        help="verify the directory and say which version it is",
        description="Verify the configured directory against the trust anchor; print its "
        "serial, issue time and size.  Exit 1 when it does not verify.",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    s = ds.add_parser(
        "publish",
        formatter_class=fmt,
        help="put the signed directory on the hub.directory topic for every reader",
        description="Publish the signed directory file on the compacted hub.directory topic. "
        "Routers, connectors and gateways follow the topic and take a newer serial that "
        "verifies against their own trust anchor, within about a second, without a file copy. "
        "With --pin-head, first sign a new serial that pins the latest tree head of the audit "
        "log, so that new connectors check their first head against it (needs the directory "
        "key and the hub's store).",
        epilog="example: hub directory apply mib-350583.request.json && hub directory publish",
    )
    s.add_argument("--pin-head", action="store_true", help="pin the latest tree head first")
    _key_option(s)
    s.set_defaults(func=cmd_publish)
