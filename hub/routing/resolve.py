"""Where a message goes: the recipient's own connector, else the nearest supervising level."""

from __future__ import annotations

from dataclasses import dataclass

from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.regions import ancestors
from hub.wire.topics import inbox_topic


@dataclass(frozen=True)
class Route:
    inbox: Address  # the connector that receives the message
    topic: str
    fallback: bool  # True when delivered above the addressed region

    @property
    def via(self) -> str:
        return "fallback" if self.fallback else "direct"


def resolve(directory: Directory, recipient: Address) -> Route | None:
    """The exact connector when registered, else county → city → province of the same agency."""
    for region in (recipient.region, *ancestors(recipient.region)):
        candidate = Address(recipient.agency, region)
        if directory.has(candidate):
            return Route(
                candidate,
                inbox_topic(candidate.agency, candidate.region),
                fallback=region != recipient.region,
            )
    return None
