"""Payloads as JSON for people and non-Python systems: ISO dates in, ISO dates out.

Avro's logical types (``date``, ``timestamp-millis``) have no JSON form of their own; this module
converts ISO-8601 strings to them following the schema, and back for output.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

from hub.core.errors import ContractError


class PayloadError(ContractError):
    """A JSON payload does not fit its schema."""


def from_json(schema: Any, value: Any, path: str = "$", named: dict | None = None) -> Any:
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in named:
            return from_json(named[schema], value, path, named)
        if schema == "bytes" and isinstance(value, str):
            return base64.b64decode(value)
        return value
    if isinstance(schema, list):  # union: null first, then the first branch that takes it
        if value is None:
            return None
        errors = []
        for branch in schema:
            if branch == "null":
                continue
            try:
                return from_json(branch, value, path, named)
            except PayloadError as exc:
                errors.append(str(exc))
        raise PayloadError("; ".join(errors) or f"{path}: no branch of the union fits")
    kind = schema.get("type")
    if "name" in schema:
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    logical = schema.get("logicalType")
    if logical == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise PayloadError(f"{path}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    if logical == "timestamp-millis" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise PayloadError(f"{path}: {value!r} is not an ISO timestamp") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == "record":
        if not isinstance(value, dict):
            raise PayloadError(f"{path}: expected an object for {schema['name']}")
        unknown = set(value) - {f["name"] for f in schema["fields"]}
        if unknown:
            raise PayloadError(f"{path}: unknown field(s) {sorted(unknown)} in {schema['name']}")
        out = {}
        for f in schema["fields"]:
            if f["name"] in value:
                out[f["name"]] = from_json(
                    f["type"], value[f["name"]], f"{path}.{f['name']}", named
                )
            elif "default" not in f:
                raise PayloadError(f"{path}: missing required field {f['name']!r}")
        return out
    if kind == "array":
        if not isinstance(value, list):
            raise PayloadError(f"{path}: expected a list")
        return [from_json(schema["items"], v, f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "map":
        return {k: from_json(schema["values"], v, f"{path}.{k}", named) for k, v in value.items()}
    if kind == "enum":
        if value not in schema["symbols"]:
            raise PayloadError(f"{path}: {value!r} is not one of {schema['symbols']}")
        return value
    if isinstance(kind, str | list | dict) and kind not in (
        "record",
        "array",
        "map",
        "enum",
        "fixed",
    ):
        return from_json(kind, value, path, named)
    return value


def to_json(value: Any) -> Any:
    """A decoded Avro record as JSON-compatible values."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
