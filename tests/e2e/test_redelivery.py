"""Nothing unreceived is forgotten: a restart of `hub run` (its embedded broker starts empty)
does not lose a delivered message the recipient had not read yet."""

from __future__ import annotations

import pytest

from hub.storage.redelivery import Redeliveries
from hub.storage.store import Store
from tests.e2e.test_end_to_end import payload
from tests.hubproc import start_hub, wait_for_messages, wait_until


def test_an_unread_message_survives_a_restart_and_arrives_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("redelivery")
    hub = start_hub(home)
    try:
        mib = hub.connector("MIB@350582")
        mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        wait_until(lambda: Store(hub.settings.effective_store_url).was_delivered(mid), 30)
    finally:
        hub.stop()  # the embedded broker, and every inbox in it, goes with it
    hub = start_hub(home)
    try:
        psb = hub.connector("PSB@350582")
        found = wait_for_messages(psb, {mid}, timeout=60)
        assert found[mid].family == "clue_transfer"
        copies = [m for m in psb.messages(idle_timeout_s=3) if m.message_id == mid]
        assert len(copies) == 1
        kept = Redeliveries(Store(hub.settings.effective_store_url).engine)
        assert mid in kept.ids()
        receipt = psb.receipt(found[mid])  # signed for: nothing left to deliver again
        # (The receipt itself is kept until its own recipient could have read it.)
        wait_until(lambda: mid not in kept.ids() and receipt in kept.ids(), 30)
    finally:
        hub.stop()


def test_an_inbox_topic_deleted_and_recreated_on_a_cluster_gets_its_unread_messages_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from kafka import KafkaAdminClient

    from connectors.client import Connector
    from hub.core.config import load_settings
    from hub.runtime.broker import EmbeddedBroker
    from ops.drills.crash import Hub

    work = tmp_path_factory.mktemp("recreated")
    broker = EmbeddedBroker(log_file=work / "broker.log").start()  # outlives the hub: a cluster
    hub = Hub(work / "home", broker.bootstrap)
    try:
        hub.start()
        settings = load_settings(home=work / "home")
        with Connector.from_settings(settings, "MIB@350582", bootstrap=broker.bootstrap) as mib:
            mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
        wait_until(lambda: Store(settings.effective_store_url).was_delivered(mid), 30)
        hub.stop()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.delete_topics(["hub.inbox.PSB.350582"])  # an operator's mistake
        admin.close()
        hub.start()  # creates the inbox again: a new topic id
        with Connector.from_settings(
            settings, "PSB@350582", bootstrap=broker.bootstrap, signing=False
        ) as psb:
            assert mid in wait_for_messages(psb, {mid}, timeout=60)
    finally:
        hub.stop()
        broker.stop()
