"""What an agency runs to publish to and consume from the hub (kafka-python)."""

from connectors.client import Connector, InboxMessage, VerificationError

__all__ = ["Connector", "InboxMessage", "VerificationError"]
