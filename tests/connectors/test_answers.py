"""Answer ids: stable for the connector that answers, unguessable for anyone else."""

from __future__ import annotations

import uuid
from pathlib import Path

from connectors.client import Connector
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire.schemas import SchemaRegistry

REGISTRY = SchemaRegistry.load(Path(__file__).resolve().parents[2] / "schemas" / "avro")


def connector(key: SigningKey) -> Connector:
    return Connector("PSB@350582", bootstrap="127.0.0.1:1", registry=REGISTRY,
                     directory=Directory, key=key)  # fmt: skip


def test_a_receipt_id_is_stable_for_its_connector_and_unguessable_for_others() -> None:
    original = str(uuid.uuid4())
    key = SigningKey.generate()
    first = connector(key).answer_id(original, "receipt")
    assert first == connector(key).answer_id(original, "receipt")  # a re-run derives it again
    assert first != connector(SigningKey.generate()).answer_id(original, "receipt")
    # What the old scheme gave, and what a third party could compute, is not it.
    guess = uuid.uuid5(uuid.NAMESPACE_URL, f"hub:receipt:{original}:PSB@350582")
    assert first != str(guess)
    assert first != connector(key).answer_id(str(uuid.uuid4()), "receipt")
