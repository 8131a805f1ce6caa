"""Authenticating audit records: an HMAC tag on every record the hub publishes, with the hash of
the deployment's suite (HMAC-SHA256 under ``intl``, HMAC-SM3 under ``gm``).

Anyone who can write to ``hub.audit`` could otherwise put a made-up fact into the transfer log,
or take a genuine event's (deterministic) id first so that the genuine one is skipped as a
repeat.  The router and the SLA publisher tag each record's bytes with a key only the hub holds
(``audit_mac_file``, 0600, shared by the hub's workers and its sink); the sink records a record
as a fact only when its tag verifies, and otherwise only its hash, in quarantine.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from hub.core.files import private_dir
from hub.trust import suites


class AuditMac:
    def __init__(self, key: bytes, suite: str = suites.DEFAULT) -> None:
        if len(key) < 32:
            raise ValueError("the audit MAC key must have at least 32 bytes")
        self._key = key
        self._suite = suites.by_name(suite)

    @classmethod
    def from_file(cls, path: Path, suite: str = suites.DEFAULT) -> AuditMac:
        """The key in ``path``, created (random, 0600) on first use."""
        if not path.exists():
            private_dir(path.parent)
            try:
                with path.open("x", encoding="ascii") as fh:
                    fh.write(secrets.token_hex(32) + "\n")
            except FileExistsError:
                pass  # another worker made it first: use theirs
            path.chmod(0o600)
        return cls(bytes.fromhex(path.read_text(encoding="ascii").strip()), suite)

    def tag(self, value: bytes) -> bytes:
        return self._suite.mac(self._key, value).hex().encode("ascii")

    def verify(self, value: bytes, tag: bytes | None) -> bool:
        return tag is not None and hmac.compare_digest(self.tag(value), bytes(tag))
