"""Moving the audit schema down: refused for a log that holds records, unless forced, and then
journalled where the downgrade cannot reach.

``hub audit migrate --revision base`` drops the audit tables.  A hub's own tools must not erase
history quietly: the command refuses while the log holds records, and with ``--force`` it first
appends a line to ``<home>/audit-downgrades.log`` (time, revisions, who, record count, head seq
and hash) and signs a checkpoint of the head, so the exported checkpoints and the journal both
show what was there.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from hub.audit.store import AuditStore
from hub.core.clock import iso_ms
from hub.core.config import Settings

log = logging.getLogger("hub.audit")


def is_downgrade(current: str, target: str) -> bool:
    return target == "base" or (target != "head" and target < current)


def downgrade_journal(settings: Settings) -> Path:
    return settings.home / "audit-downgrades.log"


def record_downgrade(settings: Settings, before: str, target: str, records: int) -> None:
    """A forced downgrade leaves a trace the downgrade itself cannot remove: the head it
    started from, signed when the operators' key is at hand, in a journal beside the log."""
    store = AuditStore(settings.effective_audit_url, migrate_schema=False)
    seq, head = store.head()
    who = os.environ.get("USER") or str(os.getuid())
    line = (
        f"{iso_ms(datetime.now(UTC))} downgrade {before} -> {target} by {who}: "
        f"{records} records, head #{seq} {head}\n"
    )
    journal = downgrade_journal(settings)
    with journal.open("a", encoding="utf-8") as fh:
        fh.write(line)
    log.warning("audit schema downgrade forced: %s", line.strip())
    try:
        from hub.trust.directory import load_signing_key
        from hub.trust.directory_file import load_directory
        from hub.trust.operators import OPERATORS

        key = load_signing_key(settings.keys_dir, OPERATORS, load_directory(settings))
        store.checkpoint(key)
    except Exception as exc:  # no key here: the journal line stands alone
        log.warning("no checkpoint signed before the downgrade (%s)", type(exc).__name__)
