"""Every way a JSON payload misses its Avro schema, as RFC 6901 JSON pointers.

``hub.wire.jsonpayload.from_json`` converts and stops at the first problem; callers that answer
people (the HTTP gateway's RFC 9457 errors) want all of them, each at its place, and never the
value itself (it may be a name or an ID number).  The JSON form is the one ``from_json`` takes:
dates as ``YYYY-MM-DD``, timestamps ISO-8601, bytes base64, a union's value as the value of one
of its branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

_INTS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class Problem:
    pointer: str  # RFC 6901, "" for the whole payload
    detail: str


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def under(prefix: str, p: Problem) -> Problem:
    return Problem(prefix + p.pointer, p.detail)


def rule_problem(rule: str, prefix: str = "/payload") -> Problem:
    """A family rule's problem ("subject.credit_code: check character …") at its field."""
    where, sep, detail = rule.partition(": ")
    if not sep or " " in where:
        return Problem(prefix, rule)
    tokens = where.replace("[", ".").replace("]", "").split(".")
    return Problem(prefix + "/" + "/".join(_escape(t) for t in tokens if t), detail)


def problems(schema: Any, value: Any) -> list[Problem]:
    found: list[Problem] = []
    _check(schema, value, "", {}, found)
    return found


def _check(schema: Any, value: Any, at: str, named: dict[str, Any], out: list[Problem]) -> None:
    if isinstance(schema, str):
        if schema in named:
            _check(named[schema], value, at, named, out)
        else:
            _primitive(schema, value, at, out)
        return
    if isinstance(schema, list):
        if value is None:
            if "null" not in schema:
                out.append(Problem(at, "must not be null"))
            return
        for branch in schema:
            if branch == "null":
                continue
            trial: list[Problem] = []
            _check(branch, value, at, named, trial)
            if not trial:
                return
        kinds = ", ".join(_kind(b, named) for b in schema)
        out.append(Problem(at, f"fits none of: {kinds}"))
        return
    kind = schema.get("type")
    if "name" in schema:
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    logical = schema.get("logicalType")
    if logical == "date":
        if not (isinstance(value, str) and _parses(date.fromisoformat, value)):
            out.append(Problem(at, "must be a date, YYYY-MM-DD"))
        return
    if logical in ("timestamp-millis", "timestamp-micros"):
        if not (isinstance(value, str) and _parses(datetime.fromisoformat, value)):
            out.append(Problem(at, "must be an ISO-8601 timestamp"))
        return
    if kind == "record":
        if not isinstance(value, dict):
            out.append(Problem(at, f"must be an object ({schema['name']})"))
            return
        fields = {f["name"]: f for f in schema["fields"]}
        for name in sorted(set(value) - set(fields)):
            out.append(Problem(f"{at}/{_escape(name)}", "is not a field of this schema"))
        for name, f in fields.items():
            where = f"{at}/{_escape(name)}"
            if name in value:
                _check(f["type"], value[name], where, named, out)
            elif "default" not in f:
                out.append(Problem(where, "is required"))
        return
    if kind == "enum":
        if value not in schema["symbols"]:
            out.append(Problem(at, f"must be one of {', '.join(schema['symbols'])}"))
        return
    if kind == "array":
        if not isinstance(value, list):
            out.append(Problem(at, "must be an array"))
            return
        for i, item in enumerate(value):
            _check(schema["items"], item, f"{at}/{i}", named, out)
        return
    if kind == "map":
        if not isinstance(value, dict):
            out.append(Problem(at, "must be an object"))
            return
        for k, item in value.items():
            _check(schema["values"], item, f"{at}/{_escape(str(k))}", named, out)
        return
    if kind == "fixed":
        _primitive("bytes", value, at, out)
        return
    _check(kind, value, at, named, out)


def _primitive(kind: str, value: Any, at: str, out: list[Problem]) -> None:
    ok = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "bytes": isinstance(value, str),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
    }
    if kind in _INTS:
        lo, hi = _INTS[kind]
        good = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        if not good:
            out.append(Problem(at, f"must be a whole number ({kind})"))
        return
    if not ok.get(kind, True):
        out.append(Problem(at, f"must be {'a base64 string' if kind == 'bytes' else kind}"))


def _kind(schema: Any, named: dict[str, Any]) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, dict):
        return str(schema.get("logicalType") or schema.get("name") or schema.get("type"))
    return "union"


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
