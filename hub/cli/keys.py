"""``hub keys``: a connector's own keys, made on the agency's side, and the directory's view.

``new`` and ``rotate`` make key pairs in this host's keys folder and, with ``--request FILE``,
write the request the agency sends the operators (``hub directory apply``).  Without
``--request`` they apply it at once, which works only where the directory key is (a
development hub).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hub.cli.output import print_json, table
from hub.core.config import Settings
from hub.core.errors import TrustError, UsageError


def _requested(request: Any, path: Path) -> None:
    request.save(path)
    print(request.fingerprint)
    print(
        f"wrote the {request.kind} request of {request.body['address']} to {path}; the private "
        "keys stay in this host's keys folder.  Send the file to the hub operators and confirm "
        f"its fingerprint {request.fingerprint} with them by another channel; the new keys are "
        "used once the directory they sign lists them.",
        file=sys.stderr,
    )


def cmd_keys_new(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.address import Address
    from hub.trust.authority import authority_for, create_key
    from hub.trust.directory import DirectoryError
    from hub.trust.requests import make_request

    try:
        address = Address.parse(args.address)
        if args.request:
            request = make_request("register", address, settings.keys_dir, name=args.name or "",
                                   suite=args.suite or settings.crypto_suite,
                                   pkcs11=args.pkcs11)  # fmt: skip
            _requested(request, Path(args.request))
            return 0
        authority = authority_for(settings)
        key = create_key(authority, settings.keys_dir, address, args.name or "",
                         args.suite or settings.crypto_suite, args.pkcs11)  # fmt: skip
    except (ValueError, DirectoryError, TrustError) as exc:
        raise UsageError(str(exc)) from exc
    print(key.key_id)
    where = "in the PKCS#11 module" if args.pkcs11 else "in"
    print(
        f"registered {key.key_id} for {address} in {settings.directory_path} (signed with the "
        f"directory key here); private signing key kept {where} "
        f"{'' if args.pkcs11 else settings.keys_dir / str(address)}".rstrip(),
        file=sys.stderr,
    )
    return 0


def key_location(settings: Settings, address: Any, key_id: str) -> str:
    """Where this host keeps a key's private half: a PEM file, a module (its URI without the
    PIN), or nowhere here (another host's key, or one only the directory knows)."""
    from hub.trust import hsm
    from hub.trust.directory import private_key_path

    pem = private_key_path(settings.keys_dir, address, key_id)
    if pem.exists():
        return f"file {pem}"
    reference = pem.with_suffix(hsm.REFERENCE_SUFFIX)
    if reference.exists():
        uri = hsm.Pkcs11Uri.parse(reference.read_text(encoding="utf-8").strip())
        return f"pkcs11 {uri.shown()}"
    return "not on this host"


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.directory_file import load_directory

    directory = load_directory(settings)
    rows = [
        [
            str(c.address),
            use,
            k.key_id,
            k.status + (f" {k.revoked_at}" if k.revoked_at else ""),
            k.created_at,
            c.name,
            key_location(settings, c.address, k.key_id),
        ]
        for c in directory.connectors.values()
        for use, entries in (("signing", c.keys), ("encryption", c.encryption_keys))
        for k in entries
    ]
    names = ["address", "use", "key_id", "status", "created_at", "name", "location"]
    if args.json:
        for r in rows:
            print_json(dict(zip(names, r, strict=True)))
    elif rows:
        print(table(rows, ["CONNECTOR", "USE", "KEY ID", "STATUS", "CREATED", "NAME", "WHERE"]))
        print(f"directory serial {directory.serial}, issued {directory.issued_at}")
    else:
        print(
            f"no connectors in {settings.directory_path}; add one with `hub keys new AGENCY@REGION`"
        )
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from hub.trust.address import Address
    from hub.trust.authority import authority_for
    from hub.trust.directory import DirectoryError
    from hub.trust.directory_file import load_directory
    from hub.trust.rotation import rotate_keys, rotation_request

    both = not args.signing and not args.encryption
    which = {"signing": args.signing or both, "encryption": args.encryption or both,
             "suite": args.suite}  # fmt: skip
    try:
        address = Address.parse(args.address)
        if args.request:
            request = rotation_request(
                settings.keys_dir, address, load_directory(settings), **which
            )
            _requested(request, Path(args.request))
            return 0
        authority = authority_for(settings)
        made = rotate_keys(authority, settings.keys_dir, address, **which)
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
    from hub.trust.authority import authority_for
    from hub.trust.directory import DirectoryError

    try:
        authority = authority_for(settings, Path(args.key) if args.key else None)
        address = authority.revoke(args.key_id, now_utc())
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
        description="A connector's Ed25519 signing keys and X25519 encryption keys: made on the "
        "agency's side, registered by the operators in the signed directory.",
    )
    ks = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    s = ks.add_parser(
        "new",
        help="create a connector's key pairs (and a registration request)",
        formatter_class=fmt,
        description="Create an Ed25519 signing key pair and an X25519 encryption key pair for "
        "AGENCY@REGION and keep the private halves in this host's keys folder (0600).\n\n"
        "With --request FILE, write the registration request to send the hub operators and "
        "print its fingerprint (confirm it with them by another channel).  Without, register "
        "at once: only where the directory key is (a development hub); prints the key id.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--name", help="a readable name for the connector")
    s.add_argument("--request", metavar="FILE", help="write a registration request here")
    s.add_argument("--suite", choices=["intl", "gm"],
                   help="the keys' suite (default: the crypto_suite setting)")  # fmt: skip
    s.add_argument("--pkcs11", metavar="URI",
                   help="make the signing key inside this hardware module (RFC 7512 URI, e.g. "
                   "'pkcs11:token=hub;object=operators?module-path=/usr/lib/softhsm/"
                   "libsofthsm2.so&pin-source=file:/etc/hub/pin'); no PEM of it is "
                   "written")  # fmt: skip
    s.set_defaults(func=cmd_keys_new)
    s = ks.add_parser(
        "list",
        help="list connectors and keys",
        description="List every connector in the signed directory with its keys, and where "
        "this host keeps each private half: a PEM file, a PKCS#11 module, or not here.",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_keys_list)
    s = ks.add_parser(
        "rotate",
        help="replace a connector's keys",
        formatter_class=fmt,
        description="Give AGENCY@REGION a new signing key and a new encryption key (or only one "
        "of them); the ones they replace become retired: messages signed or encrypted with a "
        "retired key are still accepted, and its private half stays so older messages remain "
        "readable.\n\nWith --request FILE, write a rotation request authorised by the current "
        "signing key, for the operators; without, apply it here (a development hub).  Prints "
        "the new key ids.",
    )
    s.add_argument("address", metavar="AGENCY@REGION")
    s.add_argument("--signing", action="store_true", help="only the signing key")
    s.add_argument("--encryption", action="store_true", help="only the encryption key")
    s.add_argument("--request", metavar="FILE", help="write a rotation request here")
    s.add_argument("--suite", choices=["intl", "gm"],
                   help="make the new keys in this suite: `--suite gm` migrates the agency to "
                   "SM2/SM4 (default: the current key's suite)")  # fmt: skip
    s.set_defaults(func=cmd_keys_rotate)
    s = ks.add_parser(
        "revoke",
        help="revoke a key (operators)",
        description="Mark a key revoked from now on and sign the new directory: the router "
        "refuses messages signed with it or encrypted to it.  Records of the audit log made "
        "before stay as they are.  Needs the directory key.",
    )
    s.add_argument("key_id", metavar="KEY_ID")
    s.add_argument("--key", metavar="FILE", help="the directory key (default: directory_key_file)")
    s.set_defaults(func=cmd_keys_revoke)
