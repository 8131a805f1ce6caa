"""What the recipient learns of a document before its bytes (hub.wire.documents): the
descriptor, payload itself, always sealed for the recipient, and never logged."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from hub.core.errors import ContractError
from hub.trust import suites


class DocumentError(ContractError):
    """A document or chunk that cannot be accepted; ``reason`` is the dead-letter code."""

    reason = "invalid_document"


@dataclass(frozen=True)
class Descriptor:
    """What the recipient learns of a document before its bytes: payload, sealed when the
    payload is."""

    name: str
    media_type: str
    size: int
    sha256: str
    key: bytes | None = None  # the document's chunk key, when it travels encrypted
    #: The suite whose AEAD sealed the chunks, when not the default one (then absent, so an
    #: ``intl`` descriptor reads as it always did).
    cipher: str | None = None

    @property
    def suite(self) -> suites.Suite:
        return suites.by_name(self.cipher or suites.DEFAULT)

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.key is not None:
            body["key"] = base64.b64encode(self.key).decode()
        if self.cipher is not None:
            body["cipher"] = self.cipher
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Descriptor:
        try:
            body = json.loads(data)
            key = base64.b64decode(body["key"]) if "key" in body else None
            return cls(
                str(body["name"]),
                str(body["media_type"]),
                int(body["size"]),
                str(body["sha256"]),
                key,
                str(body["cipher"]) if "cipher" in body else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DocumentError("a document descriptor is not readable") from exc
