"""The message families the hub carries: one module each, found by looking in this package.

A module here defines ``FAMILY`` (or ``FAMILIES``, a tuple) of :class:`~.base.Family`; the
registry below collects them, ordered by ``Family.order``.  Adding a family is one module
plus its ``schemas/avro/<stem>.v1.avsc``.
"""

from __future__ import annotations

import importlib
import pkgutil

from hub.wire.envelope import Envelope
from hub.wire.families.base import Family, Payload, Problems
from hub.wire.families.sla_event import NAME as SLA_EVENT


def _discover() -> dict[str, Family]:
    found: list[Family] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "FAMILIES", ()))
        if hasattr(module, "FAMILY"):
            found.append(module.FAMILY)
    names = [f.name for f in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"message families defined twice: {sorted(duplicates)}")
    return {f.name: f for f in sorted(found, key=lambda f: (f.order, f.name))}


FAMILIES: dict[str, Family] = _discover()
#: The families that answer an original hand-off, in lifecycle order.
REPLY_FAMILIES = tuple(f.name for f in FAMILIES.values() if f.is_reply)
#: The families the SLA file may give deadlines to.
BUSINESS_FAMILIES = tuple(f.name for f in FAMILIES.values() if f.business)


def family(name: str) -> Family | None:
    return FAMILIES.get(name)


def check_payload(fam: Family, payload: Payload, env: Envelope) -> Problems:
    problems = fam.check(payload, env)
    if fam.is_reply and not env.correlation_id:
        problems.append(f"{fam.name} answers a message: correlation_id is required")
    return problems


__all__ = [
    "BUSINESS_FAMILIES",
    "FAMILIES",
    "REPLY_FAMILIES",
    "SLA_EVENT",
    "Family",
    "Payload",
    "Problems",
    "check_payload",
    "family",
]
