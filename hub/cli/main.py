"""The ``hub`` command line: one module per command group, errors mapped to exit codes here.

``hub COMMAND --help`` explains each command.  Every error the hub raises on purpose is a
:class:`~hub.core.errors.HubError`; it is printed without a traceback and its ``exit_code`` is
returned.  Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from hub.cli import (
    apidocs,
    audit,
    cluster,
    console,
    demo,
    directory,
    dlq,
    gateway,
    info,
    keys,
    lifecycle,
    messages,
    outbox,
    report,
    responder,
)
from hub.core.config import load_settings
from hub.core.errors import HubError


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="hub",
        formatter_class=fmt,
        description="Interagency data-sharing hub for medical-insurance fund supervision.",
        epilog="Settings come from hub.toml and HUB_* environment variables; `hub config` "
        "shows them.  Start with `hub run`, then `hub send` and `hub inbox` in another terminal; "
        "`hub demo` plays a whole week of the 泉州 departments through a hub of its own.",
    )
    p.add_argument("--config", help="TOML config file (default: $HUB_CONFIG or ./hub.toml)")
    p.add_argument("--home", help="hub working directory (default: .hub)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    groups = (
        messages,
        keys,
        directory,
        dlq,
        info,
        lifecycle,
        audit,
        report,
        console,
        gateway,
        outbox,
        responder,
        cluster,
        demo,
        apidocs,
    )
    for group in groups:
        group.add_parsers(sub, fmt)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # Everything the hub writes (stores and their WAL files, keys, secrets, state, the broker's
    # files) is for the hub's own user: 0600 files in 0700 folders.
    os.umask(0o077)
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
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
