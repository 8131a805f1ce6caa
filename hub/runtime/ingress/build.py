"""The one place the ingress pipeline is put together."""

from __future__ import annotations

from hub.runtime.ingress.audit import IngressAudit
from hub.runtime.ingress.batch import BatchPipeline
from hub.runtime.ingress.deadletters import DeadLetterWriter
from hub.runtime.ingress.decide import Decider
from hub.runtime.ingress.inbox import EnsureInbox, InboxWriter
from hub.runtime.ingress.loop import IngressLoop
from hub.runtime.ingress.pipeline import IngressPipeline
from hub.runtime.ingress.producer import Producer
from hub.runtime.ingress.recorder import Epochs, Recorder, no_epochs
from hub.runtime.ingress.returns import ReturnWriter
from hub.runtime.ingress.seat import RouterSeat, router_consumer, router_membership
from hub.runtime.services import HubServices
from hub.trust.directory import load_signing_key
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS


async def _inbox_exists(topic: str, agency: str, region: str) -> None:
    """For a broker that creates topics on first write (and for tests): nothing to do."""


def build_pipeline(
    services: HubServices,
    producer: Producer,
    ensure_inbox: EnsureInbox = _inbox_exists,
    epochs: Epochs = no_epochs,
) -> IngressPipeline:
    s = services
    operators_key: list[SigningKey] = []

    def key() -> SigningKey:
        # Loaded when first needed: `hub run` registers the operators before the worker starts.
        if not operators_key:
            operators_key.append(
                load_signing_key(s.settings.keys_dir, OPERATORS, s.directory.current)
            )
        return operators_key[0]

    recorder = Recorder(
        s.store, s.ledger, s.sla_policy, s.calendar, s.clock, s.escalation_grace, epochs
    )
    return IngressPipeline(
        decide=Decider(s.router, s.directory),
        inbox=InboxWriter(producer, ensure_inbox),
        dead_letters=DeadLetterWriter(producer, s.registry),
        recorder=recorder,
        audit=IngressAudit(recorder, s.audit_mac, s.subject_ref, s.clock),
        clock=s.clock,
        max_record_bytes=s.settings.max_record_bytes,
        returns=ReturnWriter(producer, s.registry, lambda: s.directory.current, ensure_inbox, key),
    )


def build_router(
    services: HubServices,
    producer: Producer,
    ensure_inbox: EnsureInbox,
    epochs: Epochs,
    bootstrap: str,
    instance: str = "run",
    seat: RouterSeat | None = None,
) -> IngressLoop:
    """A router worker: the ingress loop over the batched pipeline, on its own consumer;
    ``instance`` names the process (``run``, ``worker-N``) whose member of the group it is;
    ``seat``, its join already under way (``hub.runtime.ingress.seat``)."""
    from hub.runtime.kafka_clients import group_offsets

    settings = services.settings
    return IngressLoop(
        BatchPipeline(build_pipeline(services, producer, ensure_inbox, epochs)),
        router_consumer(settings, bootstrap),
        max_records=settings.ingress_batch_records,
        # Hubs before the batched router read hub.ingress as Faust's group, named app_id.
        inherit=lambda: group_offsets(bootstrap, settings, settings.app_id),
        membership=router_membership(settings, bootstrap, instance),
        seat=seat,
    )
