"""A directory of a few thousand connectors crosses hub.directory (a national one is 15 MB of
JSON; Kafka's default limit for a record is 1 MB, where publishing used to fail with
MessageSizeTooLargeError), and topics are created in batches with one line in the log.
The national figures are bench/national.py's, in docs/scale.md."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from bench.national import national_directory
from hub.runtime.admin import ensure_topics
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.directory_topic import DirectoryFollower, publish
from hub.trust.directory_file import DirectoryFile
from hub.trust.keys import SigningKey
from hub.trust.signed import TrustAnchor
from hub.wire.topics import DIRECTORY, TopicSpec

pytestmark = pytest.mark.broker


def test_a_directory_larger_than_a_kafka_record_is_published_and_followed(tmp_path: Path) -> None:
    directory, _ = national_directory(counties=250)  # 4,361 connectors
    operators = SigningKey.generate()
    path = tmp_path / "operators" / "directory.json"
    path.parent.mkdir()
    directory.write_signed(path, operators)
    document = path.read_bytes()
    assert len(document) > 2 * 1024 * 1024
    reader = tmp_path / "agency" / "directory.json"
    reader.parent.mkdir()
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, [DIRECTORY])
        publish(broker.bootstrap, document, {})
        follower = DirectoryFollower(
            DirectoryFile(reader, TrustAnchor.of(operators.public)), broker.bootstrap
        ).start()
        deadline = time.monotonic() + 60
        while follower.taken == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        follower.stop()
    assert follower.taken == 1
    taken = DirectoryFile(reader, TrustAnchor.of(operators.public)).current
    assert len(taken.connectors) == len(directory.connectors) == (31 + 342 + 250) * 7


def test_topics_are_created_in_batches_and_logged_in_one_short_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    specs = [TopicSpec(f"t.{i}", 1, {"retention.ms": "60000"}) for i in range(1200)]
    with EmbeddedBroker() as broker, caplog.at_level(logging.INFO, "hub.wire.topics"):
        created = ensure_topics(broker.bootstrap, specs[:700])
        assert len(created) == 700
        # Again, with more: only the new ones are created; the existing ones are no error.
        assert set(ensure_topics(broker.bootstrap, specs)) == {s.name for s in specs[700:]}
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        assert {s.name for s in specs} <= set(admin.list_topics())
        admin.close()
    lines = [r.getMessage() for r in caplog.records if "created" in r.getMessage()]
    assert lines[0].startswith("created 700 topics: t.0, t.1,") and "and 688 more" in lines[0]
    assert all(len(line) < 400 for line in lines)
