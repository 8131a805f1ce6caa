"""The audit store as the router's processes read it: opened when first needed, never migrated.

The audit sink owns the schema; the router's database role may not change it.  The tree heads
and the status board read the chain head through this.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.audit.store import AuditStore
from hub.core.config import Settings


def audit_opener(settings: Settings) -> Callable[[], AuditStore]:
    opened: list[AuditStore] = []

    def audit() -> AuditStore:
        if not opened:
            opened.append(AuditStore(settings.effective_audit_url, migrate_schema=False))
        return opened[0]

    return audit
