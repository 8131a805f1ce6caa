"""When active keys are due for rotation: a pure reading of the directory.

The directory records when each key was made, not an end date: the hub's policy gives every key
``key_lifetime_days`` (a setting), and ops are warned ahead of it (``HubKeyNearExpiry`` in
``ops/prometheus/alerts.yml``).  Retired and revoked keys are out of use and never due.
"""

from __future__ import annotations

from datetime import timedelta

from hub.core.clock import parse_iso
from hub.trust.directory import Directory

SIGNING = "signing"
ENCRYPTION = "encryption"


def key_expiries(directory: Directory, lifetime_days: float) -> dict[tuple[str, str], float]:
    """``{(connector address, "signing" | "encryption"): due, as a POSIX timestamp}``: the
    earliest due date of the connector's active keys of that use."""
    life = timedelta(days=lifetime_days)
    out: dict[tuple[str, str], float] = {}
    for conn in directory.connectors.values():
        for use, entries in ((SIGNING, conn.keys), (ENCRYPTION, conn.encryption_keys)):
            for key in entries:
                if key.status != "active":
                    continue
                due = (parse_iso(key.created_at) + life).timestamp()
                slot = (str(conn.address), use)
                out[slot] = min(due, out.get(slot, due))
    return out
