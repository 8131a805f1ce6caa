"""Avro single-object encoding (Avro specification, "Single-object encoding").

Wire layout of every hub record, payloads and envelopes alike::

    C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | Avro binary body

Any Avro library can decode it from the ``.avsc`` files alone.  Layered like the Confluent
client's serializers: :class:`AvroSerializer` writes one schema version, :class:`AvroDeserializer`
resolves whichever writer version it meets to the reader version it was given.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from hub.core.errors import ContractError
from hub.wire.schemas import SchemaRegistry, SchemaVersion

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8


class CodecError(ContractError):
    """Bytes that cannot be decoded.  ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)


def split_header(data: bytes) -> tuple[bytes, memoryview]:
    """Return (fingerprint, body) or raise ``CodecError('undecodable', …)``."""
    if len(data) < HEADER_LEN or data[:2] != MAGIC:
        raise CodecError("undecodable", "not an Avro single-object encoding (bad magic bytes)")
    return bytes(data[2:HEADER_LEN]), memoryview(data)[HEADER_LEN:]


def encode(schema: SchemaVersion, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(schema.fingerprint)
    try:
        schemaless_writer(buf, schema.parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CodecError("invalid_payload", f"record does not fit {schema.label}: {exc}") from exc
    return buf.getvalue()


def writer_of(registry: SchemaRegistry, data: bytes) -> SchemaVersion:
    fp, _ = split_header(data)
    writer = registry.by_fingerprint(fp)
    if writer is None:
        raise CodecError("unknown_schema", f"unknown writer schema fingerprint {fp.hex()}")
    return writer


def decode(
    registry: SchemaRegistry, data: bytes, reader: SchemaVersion | None = None
) -> tuple[SchemaVersion, dict[str, Any]]:
    """Decode ``data``; returns (writer schema, record resolved to ``reader``).

    Without ``reader`` the newest version of the writer's schema is used, so every consumer of
    the hub sees the current shape whichever version the sender wrote.
    """
    fp, body = split_header(data)
    writer = registry.by_fingerprint(fp)
    if writer is None:
        raise CodecError("unknown_schema", f"unknown writer schema fingerprint {fp.hex()}")
    if reader is None:
        reader = registry.latest(writer.stem)
    elif reader.name != writer.name:
        raise CodecError(
            "schema_mismatch", f"expected {reader.name}, the bytes were written as {writer.name}"
        )
    stream = io.BytesIO(body)
    try:
        record = schemaless_reader(stream, writer.parsed, reader.parsed)
    except Exception as exc:  # fastavro raises a zoo of types on corrupt input
        raise CodecError("undecodable", f"corrupt {writer.label} body: {exc}") from exc
    if stream.tell() != len(body):
        raise CodecError(
            "undecodable", f"{len(body) - stream.tell()} trailing bytes after {writer.label} body"
        )
    if not isinstance(record, dict):
        raise CodecError("undecodable", f"{writer.label} body is not a record")
    return writer, record


class AvroSerializer:
    """Serializes records of one schema (by default its newest version)."""

    def __init__(self, registry: SchemaRegistry, stem: str, version: int | None = None) -> None:
        self.schema = registry.version(stem, version) if version else registry.latest(stem)

    def __call__(self, record: dict[str, Any]) -> bytes:
        return encode(self.schema, record)


class AvroDeserializer:
    """Deserializes any version of one schema into its reader version (default: newest)."""

    def __init__(self, registry: SchemaRegistry, stem: str, version: int | None = None) -> None:
        self.registry = registry
        self.reader = registry.version(stem, version) if version else registry.latest(stem)

    def __call__(self, data: bytes) -> dict[str, Any]:
        return decode(self.registry, data, self.reader)[1]
