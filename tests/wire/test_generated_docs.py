"""The documents generated from the contract are current and valid: the fingerprint table names
the bytes the hub writes, the AsyncAPI 3.0 document passes AsyncAPI's JSON schema, the gateway's
OpenAPI 3.1 document passes the OpenAPI validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from hub.cli.apidocs import asyncapi_document, openapi_document
from hub.core.config import Settings
from hub.wire import codec
from hub.wire.asyncapi import fingerprint_table
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaRegistry
from tests.hubproc import load_example

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / ".cache" / "npm" / "node_modules" / "@asyncapi" / "specs" / "schemas"
REGEN = "regenerate with `hub docs {0} --out {1}`"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(ROOT / "schemas" / "avro")


def asyncapi_validator() -> jsonschema.protocols.Validator:
    path = SPECS / "3.0.0-without-$id.json"
    assert path.exists(), f"{path} is missing: ./dev test installs @asyncapi/specs with npm"
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def test_the_fingerprint_table_is_current_and_names_the_bytes_on_the_wire(
    registry: SchemaRegistry,
) -> None:
    path = ROOT / "schemas" / "avro" / "fingerprints.json"
    table = json.loads(path.read_text())
    assert table == fingerprint_table(registry), REGEN.format("fingerprints", path)
    schema = registry.latest("clue_transfer")
    encoded = codec.encode(schema, from_json(schema.raw, load_example("clue_transfer")))
    assert encoded[:2] == b"\xc3\x01"
    assert table[encoded[2:10].hex()]["file"] == "clue_transfer.v2.avsc"
    assert len(table) == len(list(registry))


def test_the_asyncapi_document_is_current_and_valid() -> None:
    path = ROOT / "docs" / "asyncapi.json"
    doc = json.loads(path.read_text())
    assert doc == asyncapi_document(Settings()), REGEN.format("asyncapi", path)
    errors = list(asyncapi_validator().iter_errors(doc))
    assert not errors, [e.message for e in errors[:5]]
    messages = doc["components"]["messages"]
    clue = messages["clue_transfer"]
    assert clue["payload"]["schemaFormat"] == "application/vnd.apache.avro;version=1.9.0"
    assert clue["examples"][0]["payload"]["clue_id"] == load_example("clue_transfer")["clue_id"]
    assert "MIB → " in clue["description"]
    assert clue["x-fingerprint"] in doc["x-fingerprints"]
    assert doc["channels"]["inbox"]["address"] == "hub.inbox.{agency}.{region}"


def test_the_validator_would_catch_a_broken_asyncapi_document() -> None:
    doc = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    del doc["info"]["version"]
    doc["channels"]["ingress"]["messages"] = "not a map"
    assert len(list(asyncapi_validator().iter_errors(doc))) >= 2


def test_the_openapi_document_is_current_and_valid() -> None:
    path = ROOT / "docs" / "openapi.json"
    doc = json.loads(path.read_text())
    assert doc == json.loads(json.dumps(openapi_document())), REGEN.format("openapi", path)
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.1")
    for route in (
        "/v1/messages",
        "/v1/inbox",
        "/v1/inbox/{message_id}/ack",
        "/v1/messages/{message_id}",
        "/v1/messages/{message_id}/close",
    ):
        assert route in doc["paths"], route
    post = doc["paths"]["/v1/messages"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert "application/problem+json" in post["responses"]["422"]["content"]
