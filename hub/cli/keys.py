"""``hub keys``: connectors and their signing keys in the agency directory."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hub.cli.output import print_json, table
from hub.core.config import Settings
from hub.core.errors import UsageError


def cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.address import Address
    from hub.trust.directory import DirectoryError, create_key

    try:
        address = Address.parse(args.address)
        key = create_key(settings.directory_path, settings.keys_dir, address, args.name or "")
    except (ValueError, DirectoryError) as exc:
        raise UsageError(str(exc)) from exc
    print(key.key_id)
    print(
        f"registered {key.key_id} for {address} in {settings.directory_path}; "
        f"private key kept in {settings.keys_dir / str(address)}",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory import Directory

    directory = Directory.load(settings.directory_path)
    rows = [
        [
            str(c.address),
            use,
            k.key_id,
            k.status + (f" {k.revoked_at}" if k.revoked_at else ""),
            k.created_at,
            c.name,
        ]
        for c in directory.connectors.values()
        for use, entries in (("signing", c.keys), ("encryption", c.encryption_keys))
        for k in entries
    ]
    names = ["address", "use", "key_id", "status", "created_at", "name"]
    if args.json:
        for r in rows:
            print_json(dict(zip(names, r, strict=True)))
    elif rows:
        print(table(rows, ["CONNECTOR", "USE", "KEY ID", "STATUS", "CREATED", "NAME"]))
    else:
        print(
            f"no connectors in {settings.directory_path}; add one with `hub keys new AGENCY@REGION`"
        )
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.address import Address
    from hub.trust.directory import DirectoryError
    from hub.trust.rotation import rotate_keys

    both = not args.signing and not args.encryption
    try:
        made = rotate_keys(
            settings.directory_path,
            settings.keys_dir,
            Address.parse(args.address),
            signing=args.signing or both,
            encryption=args.encryption or both,
        )
    except (ValueError, DirectoryError) as exc:
        raise UsageError(str(exc)) from exc
    for key_id in made:
        print(key_id)
    print(
        f"{args.address}: new keys active; the keys they replace are retired (still accepted, "
        "their private halves kept so older messages stay readable)",
        file=sys.stderr,
    )
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from hub.core.clock import now_utc
    from hub.trust.directory import DirectoryError
    from hub.trust.rotation import revoke_key

    try:
        address = revoke_key(settings.directory_path, args.key_id, now_utc())
    except DirectoryError as exc:
        raise UsageError(str(exc)) from exc
    print(
        f"revoked {args.key_id} of {address}: refused for anything new from now on",
        file=sys.stderr,
    )
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    keys = sub.add_parser(
        "keys",
        help="connector signing and encryption keys",
        description="Manage the Ed25519 signing keys and X25519 encryption keys of the agency "
        "directory.",
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
    s = ks.add_parser(
        "rotate",
        help="replace a connector's keys",
        description="Give AGENCY@REGION a new signing key and a new encryption key (or only one "
        "of them) and retire the ones they replace: messages signed or encrypted with a retired "
        "key are still accepted, and its private half stays so older messages remain readable.  "
        "Prints the new key ids.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--signing", action="store_true", help="only the signing key")
    s.add_argument("--encryption", action="store_true", help="only the encryption key")
    s.set_defaults(func=cmd_keys_rotate)
    s = ks.add_parser(
        "revoke",
        help="revoke a key",
        description="Mark a key revoked from now on: the router refuses messages signed with it "
        "or encrypted to it.  Records of the audit log made before stay as they are.",
    )
    s.add_argument("key_id", metavar="KEY_ID")
    s.set_defaults(func=cmd_keys_revoke)
