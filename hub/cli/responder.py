"""``hub responder``: agency-side programs that answer the hub on their own."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from hub.core.config import Settings


def cmd_finance(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server

    from connectors.client import Connector
    from connectors.responders.finance import FinanceResponder, Register, sample_invoices
    from hub.trust.address import Address

    reg = Register(args.register)
    if args.sample and reg.find("35010124", "0001234567") is None:
        reg.add(sample_invoices(seed=args.seed))
        print(f"filled {args.register} with a sample register (seed {args.seed})", file=sys.stderr)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1")
    connector = Connector.from_settings(settings, Address.parse(args.as_))
    responder = FinanceResponder(connector, reg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"answering e-invoice checks for {args.as_} from {args.register}", file=sys.stderr)
    try:
        connector.consume(responder.handle, follow=True, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        connector.close()
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    r = sub.add_parser("responder", help="agency-side automatic responders")
    rs = r.add_subparsers(dest="responder_command", metavar="SUBCOMMAND", required=True)
    s = rs.add_parser(
        "finance",
        formatter_class=fmt,
        help="answer e-invoice checks from the finance bureau's register",
        description="Answer every invoice_verification_request in the connector's inbox from "
        "the register of issued medical e-invoices (table fin_einvoice_register at --register): "
        "AUTHENTIC, NOT_FOUND, AMOUNT_MISMATCH, VOIDED (红冲) or ALREADY_REIMBURSED.  Signs the "
        "receipt, then sends the result.  Metrics: hub_finance_answers_total{result}.",
    )
    s.add_argument("--as", dest="as_", metavar="AGENCY@REGION", required=True)
    s.add_argument("--register", required=True, help="SQLAlchemy URL of the register")
    s.add_argument("--sample", action="store_true", help="fill an empty register with samples")
    s.add_argument("--seed", type=int, default=2024, help="seed of the sample register")
    s.add_argument("--metrics-port", type=int, default=0, help="serve /metrics here")
    s.set_defaults(func=cmd_finance)
