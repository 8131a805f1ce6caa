"""A connector's address: one agency at one region, ``AGENCY@REGION``.

Parsing only checks the shape; whether the agency and region are acceptable is the directory's
question (:func:`hub.trust.directory.check_address`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Address:
    """A connector: an agency at one region, written ``AGENCY@REGION`` (e.g. ``MIB@350582``)."""

    agency: str
    region: str

    @classmethod
    def parse(cls, text: str) -> Address:
        agency, sep, region = text.strip().partition("@")
        if not sep or not agency or not region:
            raise ValueError(
                f"address must look like AGENCY@REGION (e.g. MIB@350582), not {text!r}"
            )
        return cls(agency.upper(), region)

    def __str__(self) -> str:
        return f"{self.agency}@{self.region}"

    def to_record(self) -> dict[str, str]:
        return {"agency": self.agency, "region": self.region}
