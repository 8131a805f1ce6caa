"""``hub console``: serve the compliance officers' console; ``hub console officer …``: accounts."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from hub.cli.output import table
from hub.core.clock import now_utc
from hub.core.config import Settings
from hub.core.errors import NotFound, UsageError

DESCRIPTION = """\
The compliance officers' console: sign in with a password and a one-time code, search the
hand-offs of your region, read a hand-off's chain of custody, its deadlines, documents and dead
letters, and take the weekly report away as a workbook.  Every search and every page opened is
written to the audit log.  Listens on loopback unless --host says otherwise; put it behind the
site's TLS proxy (and give --secure-cookies) for anything but a trial.
"""
EXAMPLES = """\
examples:
  hub console officer add qz-audit-01 --role officer --scope 350500
      (asks for the password; prints the one-time-code secret for the authenticator app)
  hub console --port 8090
  hub console officer list
  hub console officer disable qz-audit-01
"""


def certificate_proxy(args: argparse.Namespace) -> Any:
    """The proxy the console trusts for certificate sign-in, or None; refuses a header without
    the secret that authenticates the proxy and the CA that issues officers' certificates."""
    if not args.client_cert_header:
        if args.proxy_secret_file or args.client_ca:
            raise UsageError("--proxy-secret-file and --client-ca go with --client-cert-header")
        return None
    from cryptography import x509

    from hub.console.auth import CertificateProxy

    if not args.proxy_secret_file or not args.client_ca:
        raise UsageError(
            "--client-cert-header needs --proxy-secret-file (the secret the TLS proxy sends, so "
            "no one else can send the header) and --client-ca (the CA of officers' certificates)"
        )
    try:
        secret = Path(args.proxy_secret_file).read_text(encoding="utf-8").strip()
        cas = tuple(x509.load_pem_x509_certificates(Path(args.client_ca).read_bytes()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"certificate sign-in: {exc}") from exc
    if len(secret) < 32:
        raise UsageError("--proxy-secret-file holds fewer than 32 characters: make a long "
                         "random secret (openssl rand -hex 32)")  # fmt: skip
    return CertificateProxy(args.client_cert_header, secret, cas)


def add_parsers(sub: Any, fmt: Any) -> None:
    c = sub.add_parser("console", formatter_class=fmt, help="the compliance officers' console",
                       description=DESCRIPTION, epilog=EXAMPLES)  # fmt: skip
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8090)
    c.add_argument("--session-minutes", type=float, default=30.0, help="sessions expire after")
    c.add_argument("--secure-cookies", action="store_true", help="served over HTTPS")
    c.add_argument(
        "--client-cert-header",
        metavar="NAME",
        help="behind a TLS proxy that verifies client certificates: the header it passes the "
        "certificate in, URL-encoded PEM (nginx: proxy_set_header X-SSL-Client-Cert "
        "$ssl_client_escaped_cert); needs --proxy-secret-file and --client-ca",
    )
    c.add_argument(
        "--proxy-secret-file",
        metavar="FILE",
        help="with --client-cert-header: a secret the proxy sends in X-Hub-Proxy-Secret on every "
        "request (compared in constant time), so nobody else reaching the console's port can "
        "pass a certificate header",
    )
    c.add_argument(
        "--client-ca",
        metavar="PEM",
        help="with --client-cert-header: the CA certificate(s) officers' certificates must be "
        "issued by; the chain and the dates are checked again here",
    )
    c.set_defaults(func=cmd_serve)
    cs = c.add_subparsers(dest="console_command", metavar="SUBCOMMAND")
    o = cs.add_parser("officer", help="officers' accounts")
    os_ = o.add_subparsers(dest="officer_command", metavar="ACTION", required=True)
    add = os_.add_parser("add", help="make an account (prints its one-time-code secret once)")
    add.add_argument("name", help="the account's name (an identifier, e.g. qz-audit-01)")
    add.add_argument(
        "--role",
        choices=["officer", "supervisor"],
        default="officer",
        help="a supervisor also sees who looked at what",
    )
    add.add_argument(
        "--scope",
        required=True,
        metavar="REGION",
        help="the region whose hand-offs it sees (350500: the city and its counties)",
    )
    add.add_argument(
        "--cert-sha256", metavar="HEX", help="a client certificate's SHA-256 it may sign in with"
    )
    add.add_argument(
        "--password-env", metavar="VAR", help="read the password from this variable (scripts)"
    )
    add.set_defaults(func=cmd_add)
    for action, helptext in (("disable", "stop an account signing in (ends its sessions)"),
                             ("enable", "let a disabled account sign in again")):  # fmt: skip
        s = os_.add_parser(action, help=helptext)
        s.add_argument("name")
        s.set_defaults(func=cmd_enable_disable, disable=action == "disable")
    os_.add_parser("list", help="the accounts").set_defaults(func=cmd_list)


def _officers(settings: Settings) -> Any:
    from hub.storage.officers import OfficerStore
    from hub.storage.store import Store

    return OfficerStore(Store(settings.effective_store_url).engine)


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from hub.console.auth import make_officer

    if args.password_env:
        password = os.environ.get(args.password_env, "")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ")
    store = _officers(settings)
    if store.get(args.name) is not None:
        raise UsageError(f"an officer named {args.name} exists")
    try:
        made = make_officer(args.name, password, role=args.role, scope=args.scope,
                            cert_sha256=args.cert_sha256, now=now_utc())  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    store.add(made.officer)
    print(f"officer {args.name} ({args.role}, scope {args.scope}) added")
    print(f"one-time-code secret: {made.officer.totp_secret}")
    print(f"authenticator URI:    {made.totp_uri}")
    print("(shown once: enter it in the officer's authenticator app now)", file=sys.stderr)
    return 0


def cmd_enable_disable(args: argparse.Namespace, settings: Settings) -> int:
    if not _officers(settings).set_disabled(args.name, args.disable):
        raise NotFound(f"no officer named {args.name}")
    print(f"officer {args.name} {'disabled' if args.disable else 'enabled'}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [
        [o.name, o.role, o.scope, "disabled" if o.disabled else "active",
         "yes" if o.cert_sha256 else "", o.locked_until.isoformat() if o.locked_until else ""]
        for o in _officers(settings).all()
    ]  # fmt: skip
    print(table(rows, ["name", "role", "scope", "state", "certificate", "locked until"]))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn
    from kafka import KafkaProducer

    from hub.audit.emit import AuditPublisher
    from hub.audit.mac import AuditMac
    from hub.audit.store import AuditStore
    from hub.audit.timestamps import load_roots
    from hub.console.app import create_app
    from hub.console.looks import LookLog
    from hub.console.service import Console
    from hub.core.clock import clock_from_settings
    from hub.runtime.state import resolve_bootstrap

    proxy = certificate_proxy(args)  # refused before anything starts
    from hub.sla.workdays import default_calendar
    from hub.storage.store import Store
    from hub.trust.directory import DirectoryError, load_signing_key
    from hub.trust.directory_file import directory_file
    from hub.trust.operators import OPERATORS
    from hub.wire.schemas import SchemaRegistry

    producer = KafkaProducer(
        bootstrap_servers=resolve_bootstrap(settings),
        acks="all",
        client_id="hub-console",
        **settings.kafka_python_security(),
    )
    registry = SchemaRegistry.load(settings.schemas_path)
    mac = AuditMac.from_file(settings.audit_mac_path, settings.crypto_suite)
    looks = LookLog(AuditPublisher(registry, mac), producer)
    directory = directory_file(settings)
    try:
        checkpoint_key = load_signing_key(settings.keys_dir, OPERATORS, directory.current)
    except DirectoryError:
        checkpoint_key = None  # no proofs to check in the browser: the page says nothing of them
    console = Console(
        store=Store(settings.effective_store_url),
        audit=AuditStore(settings.effective_audit_url, migrate_schema=False),
        directory=lambda: directory.current,
        calendar=default_calendar(),
        looks=looks,
        clock=clock_from_settings(settings),
        session_minutes=args.session_minutes,
        secure_cookies=args.secure_cookies,
        checkpoint_key=checkpoint_key,
        certificate_proxy=proxy,
        tsa_roots=load_roots(Path(settings.tsa_ca_file)) if settings.tsa_ca_file else (),
        archive_dir=settings.archive_path,
    )
    print(f"hub console on http://{args.host}:{args.port}/ (every look is audited)", flush=True)
    try:
        uvicorn.run(create_app(console), host=args.host, port=args.port, log_level="warning")
    finally:
        producer.close()
    return 0
