"""Step 1: decide what to do with the bytes (the pure router), with two safety nets.

A key or connector registered a moment ago must not dead-letter a message decided on a stale
directory, so a directory miss re-reads the directory file once and decides again.  A bug in the
router must neither wedge the partition on one record nor drop it: the record is dead-lettered
as ``router_error`` with the exception's type and message, to be replayed after the fix.
"""

from __future__ import annotations

import logging
from datetime import datetime

from hub.routing.router import Decision, Rejected, Router
from hub.trust.directory_file import DirectoryFile
from hub.wire.deadletter import Reason

log = logging.getLogger("hub.router")

DIRECTORY_MISSES = frozenset({Reason.NO_ROUTE, Reason.UNKNOWN_SENDER, Reason.BAD_SIGNATURE})


class Decider:
    def __init__(self, router: Router, directory: DirectoryFile) -> None:
        self.router = router
        self.directory = directory

    def __call__(self, raw: bytes, at: datetime | None = None) -> Decision:
        decision = self._decide(raw, at)
        if (
            isinstance(decision, Rejected)
            and decision.reason in DIRECTORY_MISSES
            and self.directory.reload_if_changed()
        ):
            decision = self._decide(raw, at)
        return decision

    def _decide(self, raw: bytes, at: datetime | None) -> Decision:
        try:
            return self.router.decide(raw, at)
        except Exception as exc:
            log.exception("router failed on a record; dead-lettering it")
            # The type only: an exception's message may quote the payload.
            return Rejected(Reason.ROUTER_ERROR, f"{type(exc).__name__} in the router")
