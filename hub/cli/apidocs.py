"""``hub docs``: documents generated from the contract, for agencies that do not run Python."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hub.core.config import Settings


def _write(doc: Any, out: str | None) -> int:
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from hub.core.paths import examples_dir
    from hub.routing.policy import load_policy
    from hub.wire import asyncapi
    from hub.wire.families import FAMILIES
    from hub.wire.schemas import SchemaRegistry

    try:
        hub_version = version("medfund-hub")
    except PackageNotFoundError:
        hub_version = "0"
    examples = {}
    folder = examples_dir()
    for name in FAMILIES:
        path = folder / f"{name}.json" if folder else None
        if path is not None and path.exists():
            examples[name] = json.loads(path.read_text(encoding="utf-8"))
    policy = load_policy(settings.policy_path, set(FAMILIES))
    return asyncapi.build(
        SchemaRegistry.load(settings.schemas_path), policy.allowed_pairs(), examples, hub_version
    )


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI document, from the same application it serves (no broker)."""
    from fastapi.openapi.utils import get_openapi

    from connectors.gateway.api import create_api

    class _Connector:  # create_api needs only an address to name the document
        address = "AGENCY@REGION"

    class _Gateway:
        connector = _Connector()

    app = create_api(_Gateway(), authenticate=lambda request: None)  # type: ignore[arg-type]
    app.title = "Hub gateway"
    return get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )


def cmd_asyncapi(args: argparse.Namespace, settings: Settings) -> int:
    return _write(asyncapi_document(settings), args.out)


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    return _write(openapi_document(), args.out)


def cmd_fingerprints(args: argparse.Namespace, settings: Settings) -> int:
    from hub.wire.asyncapi import fingerprint_table
    from hub.wire.schemas import SchemaRegistry

    return _write(fingerprint_table(SchemaRegistry.load(settings.schemas_path)), args.out)


def add_parsers(sub: Any, fmt: Any) -> None:
    d = sub.add_parser("docs", help="write the AsyncAPI and OpenAPI documents, the fingerprints")
    ds = d.add_subparsers(dest="docs_command", metavar="SUBCOMMAND", required=True)
    for name, func, text in (
        ("asyncapi", cmd_asyncapi, "the AsyncAPI 3.0 document of the topics and families"),
        ("openapi", cmd_openapi, "the OpenAPI 3.1 document of the gateway"),
        ("fingerprints", cmd_fingerprints, "schema fingerprint → .avsc file"),
    ):
        s = ds.add_parser(name, help=text, description=f"Print {text} (or write it to --out).")
        s.add_argument("--out", help="write to this file")
        s.set_defaults(func=func)
