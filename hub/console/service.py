"""What the console's pages read and write: the hub's store and audit log, the officers, the
looks, and what the officer's browser is given to check proofs with."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from hub.audit.store import AuditStore
from hub.console.auth import CertificateProxy
from hub.console.looks import LookLog
from hub.lifecycle.ledger import Ledger
from hub.sla.workdays import WorkCalendar
from hub.storage.officers import OfficerStore
from hub.storage.store import Store
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey


class Console:
    """What the pages read and write: the hub's store and audit log, the officers, the looks."""

    def __init__(
        self,
        *,
        store: Store,
        audit: AuditStore,
        directory: Callable[[], Directory],
        calendar: WorkCalendar,
        looks: LookLog,
        clock: Callable[[], datetime],
        session_minutes: float = 30.0,
        secure_cookies: bool = False,
        checkpoint_key: SigningKey | None = None,
        code_clock: Callable[[], datetime] | None = None,
        certificate_proxy: CertificateProxy | None = None,
        tsa_roots: Sequence[x509.Certificate] = (),
        archive_dir: Path | None = None,
    ) -> None:
        self.store, self.audit, self.directory = store, audit, directory
        #: Where the audit log's monthly archives are (audit_archive_dir): a hand-off pruned from
        #: the live log is read from them.
        self.archive_dir = archive_dir
        self.ledger = Ledger(store.engine)
        self.officers = OfficerStore(store.engine)
        self.calendar, self.looks, self.clock = calendar, looks, clock
        self.session_lifetime = timedelta(minutes=session_minutes)
        self.secure_cookies = secure_cookies
        #: Signs the tree head the proofs lead to (the operators' key, as `hub audit prove`);
        #: its public half is what the page pins and the browser checks against.
        self.checkpoint_key = checkpoint_key
        #: One-time codes follow the wall clock of the officer's phone, whatever the hub's.
        self.code_clock = code_clock or (lambda: datetime.now(UTC))
        #: Behind a TLS proxy that verified the officer's client certificate: how the proxy
        #: proves itself and passes the certificate (None: no certificate sign-in).
        self.certificate_proxy = certificate_proxy
        #: The CAs of the TSA that stamps checkpoints (tsa_ca_file): its tokens are checked here.
        self.tsa_roots = tsa_roots

    def pinned(self) -> dict[str, str]:
        key = self.checkpoint_key
        if key is None:
            return {}
        raw = key.public.raw
        return {"checkpoint_key_name": key.key_id,
                "checkpoint_key": base64.b64encode(raw).decode()}  # fmt: skip
