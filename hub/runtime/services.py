"""Everything a router worker needs that does not touch the broker, built once from settings.

The ingress pipeline, the SLA timer and the key recorder are made from these in
:mod:`hub.runtime.ingress.build`; a test builds the same from its own settings (a temporary
home, SQLite) and an in-memory producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hub.audit.events import SubjectRef
from hub.audit.mac import AuditMac
from hub.core.clock import Clock, clock_from_settings
from hub.core.config import Settings
from hub.lifecycle.board import backfill_totals
from hub.lifecycle.ledger import Ledger
from hub.routing.freshness import Freshness
from hub.routing.policy import Policy, load_policy
from hub.routing.router import Router
from hub.sla.policy import SlaPolicy, load_sla_policy
from hub.sla.workdays import WorkCalendar, default_calendar
from hub.storage.chunks import ChunkStore
from hub.storage.store import Store
from hub.trust.directory_file import DirectoryFile, directory_file
from hub.wire.families import FAMILIES
from hub.wire.schemas import SchemaRegistry
from hub.wire.signing import SIG_SM2, SIG_V1, SIG_V2, SIG_V3


@dataclass(frozen=True)
class HubServices:
    settings: Settings
    registry: SchemaRegistry
    directory: DirectoryFile
    policy: Policy
    router: Router
    store: Store
    ledger: Ledger
    sla_policy: SlaPolicy
    calendar: WorkCalendar
    clock: Clock
    subject_ref: SubjectRef
    audit_mac: AuditMac

    @classmethod
    def create(cls, settings: Settings) -> HubServices:
        registry = SchemaRegistry.load(settings.schemas_path)
        directory = directory_file(settings)
        policy = load_policy(settings.policy_path, set(FAMILIES))
        store = Store(settings.effective_store_url)
        backfill_totals(store.engine)
        ledger = Ledger(store.engine)
        router = Router(
            registry,
            lambda: directory.current,
            policy,
            ledger.conversation,
            ledger.reply_applied,
            Freshness(
                timedelta(seconds=settings.freshness_max_age_s),
                timedelta(seconds=settings.freshness_max_ahead_s),
            ),
            frozenset({SIG_V1, SIG_V2, SIG_V3, SIG_SM2})
            if settings.accept_hub_sig_v1
            else frozenset({SIG_V2, SIG_V3, SIG_SM2}),
            chunks=ChunkStore(store.engine).seen,
            max_document_bytes=settings.max_document_bytes,
        )
        return cls(
            settings=settings,
            registry=registry,
            directory=directory,
            policy=policy,
            router=router,
            store=store,
            ledger=ledger,
            sla_policy=load_sla_policy(settings.sla_path),
            calendar=default_calendar(),
            clock=clock_from_settings(settings),
            subject_ref=SubjectRef.from_file(settings.audit_secret_path, settings.crypto_suite),
            audit_mac=AuditMac.from_file(settings.audit_mac_path, settings.crypto_suite),
        )

    @property
    def escalation_grace(self) -> timedelta:
        return timedelta(seconds=self.settings.sla_escalation_grace_s)
