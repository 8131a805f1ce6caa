"""Where the hub finds the files it ships: the Avro contract, policy, SLA rules and calendars.

In a checkout, ``schemas/avro/`` at the top level is the source of truth.  A wheel carries a copy
of it inside the package (``hub/wire/avro``, copied by ``setup.py`` at build time), so an installed
``hub`` works from any directory.  The checkout's copy wins when both exist, so an edit to a
schema file is seen without reinstalling.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: The checkout's root (meaningful only when running from a source tree).
PROJECT_ROOT = PACKAGE_ROOT.parent
PACKAGE_DATA = PACKAGE_ROOT / "data"
POLICY_FILE = PACKAGE_DATA / "policy.yaml"
SLA_FILE = PACKAGE_DATA / "sla.yaml"
CALENDAR_DIR = PACKAGE_DATA / "calendar"
#: Inside the package: where a built wheel carries the Avro contract.
PACKAGED_SCHEMAS = PACKAGE_ROOT / "wire" / "avro"
CHECKOUT_SCHEMAS = PROJECT_ROOT / "schemas" / "avro"
CHECKOUT_EXAMPLES = PROJECT_ROOT / "examples" / "payloads"


def schemas_dir() -> Path:
    """The Avro contract: the checkout's ``schemas/avro`` if present, else the packaged copy."""
    if CHECKOUT_SCHEMAS.is_dir():
        return CHECKOUT_SCHEMAS
    return PACKAGED_SCHEMAS


def examples_dir() -> Path | None:
    """The example payloads, in a checkout (a wheel does not carry them)."""
    return CHECKOUT_EXAMPLES if CHECKOUT_EXAMPLES.is_dir() else None
