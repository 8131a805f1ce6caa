"""``hub gateway``: an agency's local HTTP/JSON gateway to the hub, and its API tokens."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hub.core.config import Settings
from hub.core.errors import UsageError


def _address(args: argparse.Namespace) -> Any:
    from hub.trust.address import Address

    if not args.as_:
        raise UsageError("say which connector with --as AGENCY@REGION")
    try:
        return Address.parse(args.as_)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.gateway.server import GatewayOptions, serve

    secret = os.environ.get("HUB_GATEWAY_PUSH_SECRET", "")
    if args.push_secret_file:
        secret = Path(args.push_secret_file).read_text(encoding="utf-8").strip()
    if args.push_url and not secret:
        raise UsageError(
            "--push-url needs the whsec_… secret (--push-secret-file or HUB_GATEWAY_PUSH_SECRET)"
        )
    if bool(args.tls_cert) != bool(args.tls_key) or (args.client_ca and not args.tls_cert):
        raise UsageError("TLS needs --tls-cert and --tls-key (and --client-ca for mTLS)")
    options = GatewayOptions(
        address=_address(args),
        host=args.host,
        port=args.port,
        push_url=args.push_url or "",
        push_secret=secret,
        push_max_attempts=args.push_max_attempts,
        tls_cert=args.tls_cert or "",
        tls_key=args.tls_key or "",
        client_ca=args.client_ca or "",
        auto_receipt=args.auto_receipt,
        outbox_url=args.outbox_url or "",
        outbox_documents_dir=args.outbox_documents_dir,
    )
    return serve(settings, options)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.gateway.server import open_store

    store = open_store(settings, _address(args))
    try:
        if args.token_command == "new":
            print(store.new_token(args.name))
            print(f"token '{args.name}': shown once, kept only as its SHA-256", file=sys.stderr)
        elif args.token_command == "list":
            for name in store.token_names():
                print(name)
        elif not store.revoke_token(args.name):
            raise UsageError(f"no token named {args.name!r}")
    finally:
        store.close()
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    g = sub.add_parser(
        "gateway",
        formatter_class=fmt,
        help="run an agency's local HTTP/JSON gateway",
        description="Run the HTTP/JSON gateway of one connector, beside the agency's own "
        "systems: POST /v1/messages signs, encrypts and sends; GET /v1/inbox returns verified, "
        "decoded messages until acknowledged; /v1/messages/{id}/receipt|accept|return|"
        "feedback|close answer them.  OpenAPI at /openapi.json, docs at /docs.  Callers use "
        "Authorization: Bearer <token> (a first start writes one to "
        "<home>/gateway/<ADDR>.token) or client certificates (--client-ca).",
    )
    g.add_argument("--as", dest="as_", metavar="AGENCY@REGION")
    g.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback)")
    g.add_argument("--port", type=int, default=8080)
    g.add_argument("--push-url", help="POST each inbox message here (Standard Webhooks)")
    g.add_argument("--push-secret-file", help="the whsec_… secret of the push signatures")
    g.add_argument("--push-max-attempts", type=int, default=8, help="then the message is parked")
    g.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    g.add_argument("--tls-key", help="and this key (PEM)")
    g.add_argument("--client-ca", help="require client certificates signed by this CA (mTLS)")
    g.add_argument(
        "--auto-receipt", action="store_true", help="sign for each original as soon as it is kept"
    )
    g.add_argument(
        "--outbox-url",
        help="also relay this agency database's hub_outbox and "
        "write what arrives to its hub_inbox (PostgreSQL or MariaDB URL)",
    )
    g.add_argument(
        "--outbox-documents-dir", default="", metavar="DIR",
        help="with --outbox-url: the only folder a hub_outbox_documents path may name "
        "(default: HOME/outbox/AGENCY@REGION.documents)",
    )  # fmt: skip
    g.set_defaults(func=cmd_gateway)
    gs = g.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    t = gs.add_parser("token", help="the gateway's API tokens")
    ts = t.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    for name, text in (
        ("new", "make a token (printed once)"),
        ("list", "list token names"),
        ("revoke", "revoke a token"),
    ):
        s = ts.add_parser(name, help=text)
        s.add_argument("--as", dest="as_", metavar="AGENCY@REGION", required=True)
        if name != "list":
            s.add_argument("--name", required=True)
        s.set_defaults(func=cmd_token)
