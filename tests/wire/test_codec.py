"""Avro single-object encoding (hub.wire.codec), the schema registry (hub.wire.schemas)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hub.wire import codec
from hub.wire.codec import HEADER_LEN, MAGIC, AvroDeserializer, AvroSerializer, CodecError
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaError, SchemaRegistry, SchemaVersion

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "avro"
PAYLOADS = ROOT / "examples" / "payloads"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(SCHEMAS)


def example(schema: SchemaVersion, name: str | None = None) -> dict[str, Any]:
    data = json.loads((PAYLOADS / f"{name or schema.stem}.json").read_text(encoding="utf-8"))
    return from_json(schema.raw, data)


def assert_contains(decoded: Any, given: Any, where: str = "$") -> None:
    """Every value the example gave is in ``decoded`` (which also has the defaulted fields)."""
    if isinstance(given, dict):
        assert isinstance(decoded, dict), where
        for key, value in given.items():
            assert key in decoded, f"{where}.{key}"
            assert_contains(decoded[key], value, f"{where}.{key}")
    elif isinstance(given, list):
        assert isinstance(decoded, list) and len(decoded) == len(given), where
        for i, (d, g) in enumerate(zip(decoded, given, strict=True)):
            assert_contains(d, g, f"{where}[{i}]")
    else:
        assert decoded == given, where


# -- an independent CRC-64-AVRO and parsing canonical form (Avro specification) ----------------

_EMPTY = 0xC15D213AA4D7A795


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def canonical(schema: Any, namespace: str = "") -> str:
    """Parsing canonical form: [PRIMITIVES] [FULLNAMES] [STRIP] [ORDER] [STRINGS] [WHITESPACE]."""

    def s(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    if isinstance(schema, str):
        return s(schema if schema in _PRIMITIVES else _fullname(schema, namespace))
    if isinstance(schema, list):
        return "[" + ",".join(canonical(branch, namespace) for branch in schema) + "]"
    kind = schema["type"]
    if kind in ("record", "enum", "fixed"):
        name = _fullname(schema["name"], schema.get("namespace", namespace))
        inner = name.rpartition(".")[0]
        parts = [f'"name":{s(name)}', f'"type":{s(kind)}']
        if kind == "record":
            fields = ",".join(
                f'{{"name":{s(f["name"])},"type":{canonical(f["type"], inner)}}}'
                for f in schema["fields"]
            )
            parts.append(f'"fields":[{fields}]')
        elif kind == "enum":
            parts.append('"symbols":[' + ",".join(s(sym) for sym in schema["symbols"]) + "]")
        else:
            parts.append(f'"size":{int(schema["size"])}')
        return "{" + ",".join(parts) + "}"
    if kind == "array":
        return f'{{"type":"array","items":{canonical(schema["items"], namespace)}}}'
    if kind == "map":
        return f'{{"type":"map","values":{canonical(schema["values"], namespace)}}}'
    return canonical(kind, namespace)  # {"type": "int", "logicalType": "date"} → "int"


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # fingerprints published with the Avro specification (share/test/data/schema-tests.txt)
        ('"null"', 7195948357588979594),
        ('"boolean"', -6970731678124411036),
        ('"int"', 8247732601305521295),
    ],
)
def test_reference_crc64_matches_published_vectors(text: str, expected: int) -> None:
    assert crc64_avro(text.encode()) == expected % 2**64


def test_every_fingerprint_is_crc64_avro_of_the_canonical_form_little_endian(
    registry: SchemaRegistry,
) -> None:
    checked = 0
    for schema in registry:
        form = canonical(schema.raw)
        assert schema.canonical == form, schema.label
        expected = crc64_avro(form.encode("utf-8")).to_bytes(8, "little")
        assert schema.fingerprint == expected, schema.label
        assert registry.by_fingerprint(expected) is schema
        checked += 1
    assert checked == len(list(SCHEMAS.glob("*.avsc")))


# -- single-object encoding ----------------------------------------------------------------------


def test_round_trip_has_magic_fingerprint_and_body(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    record = example(schema)
    data = codec.encode(schema, record)
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:10] == crc64_avro(canonical(schema.raw).encode()).to_bytes(8, "little")
    assert len(data) > HEADER_LEN
    writer, decoded = codec.decode(registry, data)
    assert writer is schema
    assert decoded == record  # every field of this example is given, none defaulted
    assert decoded["issue_date"] == date(2024, 5, 20)
    assert codec.writer_of(registry, data) is schema


@pytest.mark.parametrize(
    "stem",
    [
        "case_referral",
        "clue_transfer",
        "corruption_clue_handoff",
        "invoice_verification_request",
        "invoice_verification_result",
    ],
)
def test_every_example_payload_round_trips(registry: SchemaRegistry, stem: str) -> None:
    schema = registry.latest(stem)
    record = example(schema)
    writer, decoded = codec.decode(registry, codec.encode(schema, record))
    assert writer is schema
    assert_contains(decoded, record)
    assert codec.decode(registry, codec.encode(schema, decoded))[1] == decoded


def test_unknown_fingerprint_is_unknown_schema(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    data = codec.encode(schema, example(schema))
    forged = MAGIC + bytes(8) + data[HEADER_LEN:]
    assert registry.by_fingerprint(bytes(8)) is None
    with pytest.raises(CodecError) as info:
        codec.decode(registry, forged)
    assert info.value.reason == "unknown_schema"
    assert "00" * 8 in info.value.detail
    with pytest.raises(CodecError) as info:
        codec.writer_of(registry, forged)
    assert info.value.reason == "unknown_schema"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc3",
        b"\xc3\x01",
        b"\xc3\x01" + b"\x00" * 7,  # header one byte short
        b"\xc3\x02" + b"\x00" * 20,
        b"\x01\xc3" + b"\x00" * 20,
        b'{"json": "not avro"}',
    ],
)
def test_bad_magic_or_short_input_is_undecodable(registry: SchemaRegistry, data: bytes) -> None:
    with pytest.raises(CodecError) as info:
        codec.decode(registry, data)
    assert info.value.reason == "undecodable"


def test_bad_magic_with_a_known_fingerprint_is_still_undecodable(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    data = codec.encode(schema, example(schema))
    with pytest.raises(CodecError) as info:
        codec.decode(registry, b"\xc3\x00" + data[2:])
    assert info.value.reason == "undecodable"


@pytest.mark.parametrize("extra", [b"\x00", b"trailing garbage"])
def test_trailing_bytes_are_undecodable(registry: SchemaRegistry, extra: bytes) -> None:
    schema = registry.latest("invoice_verification_result")
    data = codec.encode(schema, example(schema))
    with pytest.raises(CodecError) as info:
        codec.decode(registry, data + extra)
    assert info.value.reason == "undecodable"
    assert f"{len(extra)} trailing bytes" in info.value.detail


def test_every_truncation_of_the_body_is_undecodable(registry: SchemaRegistry) -> None:
    schema = registry.version("clue_transfer", 1)
    data = codec.encode(schema, example(schema))
    for cut in range(HEADER_LEN, len(data)):
        with pytest.raises(CodecError) as info:
            codec.decode(registry, data[:cut])
        assert info.value.reason == "undecodable", cut


def test_record_that_does_not_fit_is_invalid_payload(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    record = example(schema)
    record["amount_fen"] = "a lot"
    with pytest.raises(CodecError) as info:
        codec.encode(schema, record)
    assert info.value.reason == "invalid_payload"
    assert schema.label in info.value.detail


# -- reader/writer resolution --------------------------------------------------------------------


def test_clue_transfer_v1_bytes_read_as_v2_get_the_defaults(registry: SchemaRegistry) -> None:
    v1 = registry.version("clue_transfer", 1)
    v2 = registry.version("clue_transfer", 2)
    assert registry.latest("clue_transfer") is v2
    record = {**example(v1, "clue_transfer"), "requested_deadline": date(2024, 7, 31)}
    data = codec.encode(v1, record)
    assert data[2:10] == v1.fingerprint != v2.fingerprint

    writer, default_read = codec.decode(registry, data)  # newest version by default
    writer2, explicit_read = codec.decode(registry, data, v2)
    assert writer is writer2 is v1
    for decoded in (default_read, explicit_read):
        assert decoded["related_clue_ids"] == []
        assert decoded["reporting_channel"] is None
        assert set(decoded) == {f["name"] for f in v2.raw["fields"]}
        assert_contains(decoded, record)
    assert default_read["requested_deadline"] == date(2024, 7, 31)


def test_clue_transfer_v2_bytes_read_as_v1_drop_the_new_fields(registry: SchemaRegistry) -> None:
    v1 = registry.version("clue_transfer", 1)
    v2 = registry.version("clue_transfer", 2)
    record = example(v2, "clue_transfer")
    record["related_clue_ids"] = ["FJ-QZ-JJ-2024-0002"]
    record["reporting_channel"] = "hotline"
    writer, decoded = codec.decode(registry, codec.encode(v2, record), v1)
    assert writer is v2
    assert set(decoded) == {f["name"] for f in v1.raw["fields"]}
    kept = {k: v for k, v in record.items() if k not in ("related_clue_ids", "reporting_channel")}
    assert_contains(decoded, kept)


def test_reader_of_another_record_name_is_schema_mismatch(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    data = codec.encode(schema, example(schema))
    with pytest.raises(CodecError) as info:
        codec.decode(registry, data, registry.latest("invoice_verification_result"))
    assert info.value.reason == "schema_mismatch"


def test_avro_serializer_and_deserializer(registry: SchemaRegistry) -> None:
    v1 = registry.version("clue_transfer", 1)
    record = example(v1, "clue_transfer")

    latest = AvroSerializer(registry, "clue_transfer")
    pinned = AvroSerializer(registry, "clue_transfer", 1)
    assert latest.schema.version == 2
    assert pinned.schema is v1
    v1_bytes = pinned(record)
    assert v1_bytes[2:10] == v1.fingerprint

    to_latest = AvroDeserializer(registry, "clue_transfer")
    to_v1 = AvroDeserializer(registry, "clue_transfer", 1)
    assert to_latest.reader.version == 2
    assert to_latest(v1_bytes)["related_clue_ids"] == []
    assert_contains(to_v1(v1_bytes), record)
    assert "related_clue_ids" not in to_v1(v1_bytes)

    v2_record = {**to_latest(v1_bytes), "related_clue_ids": ["X-1"]}
    v2_bytes = latest(v2_record)
    assert v2_bytes[2:10] == latest.schema.fingerprint
    assert to_latest(v2_bytes)["related_clue_ids"] == ["X-1"]
    assert "related_clue_ids" not in to_v1(v2_bytes)

    other = AvroDeserializer(registry, "case_referral")
    with pytest.raises(CodecError) as info:
        other(v1_bytes)
    assert info.value.reason == "schema_mismatch"


def test_registry_lookups(registry: SchemaRegistry) -> None:
    assert "clue_transfer" in registry.stems()
    assert [v.version for v in registry.versions("clue_transfer")] == [1, 2]
    assert registry.versions("nope") == []
    assert registry.latest("envelope").name == "medfund.hub.Envelope"
    with pytest.raises(SchemaError):
        registry.latest("nope")
    with pytest.raises(SchemaError):
        registry.version("clue_transfer", 3)


# -- SchemaRegistry.load errors -------------------------------------------------------------------


def record_schema(name: str, *fields: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "test.ns",
        "fields": [{"name": f, "type": "string"} for f in fields],
    }


def write(directory: Path, filename: str, content: Any) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (directory / filename).write_text(text, encoding="utf-8")


def test_load_accepts_a_well_formed_directory(tmp_path: Path) -> None:
    write(tmp_path, "thing.v1.avsc", record_schema("Thing", "a"))
    write(tmp_path, "thing.v2.avsc", record_schema("Thing", "a", "b"))
    registry = SchemaRegistry.load(tmp_path)
    assert [v.label for v in registry] == ["thing.v1", "thing.v2"]
    assert registry.latest("thing").name == "test.ns.Thing"


@pytest.mark.parametrize(
    "filename",
    ["thing.avsc", "thing.v0.avsc", "Thing.v1.avsc", "thing.v01.avsc", "thing-x.v1.avsc"],
)
def test_load_rejects_a_misnamed_file(tmp_path: Path, filename: str) -> None:
    write(tmp_path, filename, record_schema("Thing", "a"))
    with pytest.raises(SchemaError, match=r"<stem>\.v<N>\.avsc"):
        SchemaRegistry.load(tmp_path)


@pytest.mark.parametrize("versions", [(1, 3), (2,), (1, 2, 4)])
def test_load_rejects_a_version_gap(tmp_path: Path, versions: tuple[int, ...]) -> None:
    for n in versions:
        write(tmp_path, f"thing.v{n}.avsc", record_schema("Thing", *[f"f{i}" for i in range(n)]))
    with pytest.raises(SchemaError, match="without gaps"):
        SchemaRegistry.load(tmp_path)


def test_load_rejects_versions_with_different_record_names(tmp_path: Path) -> None:
    write(tmp_path, "thing.v1.avsc", record_schema("Thing", "a"))
    write(tmp_path, "thing.v2.avsc", record_schema("OtherThing", "a", "b"))
    with pytest.raises(SchemaError, match="disagree on the record name"):
        SchemaRegistry.load(tmp_path)


def test_load_rejects_invalid_json_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path, "thing.v1.avsc", '{"type": "record", "name": ')
    with pytest.raises(SchemaError, match=r"thing\.v1\.avsc"):
        SchemaRegistry.load(tmp_path)


def test_load_rejects_an_invalid_avro_schema_naming_the_file(tmp_path: Path) -> None:
    bad = record_schema("Thing", "a")
    bad["fields"][0]["type"] = "no_such_type"
    write(tmp_path, "thing.v1.avsc", bad)
    with pytest.raises(SchemaError, match=r"thing\.v1\.avsc"):
        SchemaRegistry.load(tmp_path)


def test_load_rejects_identical_versions(tmp_path: Path) -> None:
    write(tmp_path, "thing.v1.avsc", record_schema("Thing", "a"))
    doc = record_schema("Thing", "a")
    doc["doc"] = "only documentation differs, so the canonical form is the same"
    write(tmp_path, "thing.v2.avsc", doc)
    with pytest.raises(SchemaError, match="identical"):
        SchemaRegistry.load(tmp_path)


def test_load_rejects_an_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"no \.avsc"):
        SchemaRegistry.load(tmp_path)
    with pytest.raises(SchemaError, match="does not exist"):
        SchemaRegistry.load(tmp_path / "missing")
