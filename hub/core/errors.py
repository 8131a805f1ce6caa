"""One root for every error the hub raises on purpose.

Each error carries a ``reason`` (a short code; for what ends in the dead letters, the dead-letter
reason) and the ``exit_code`` the command line returns for it.  The command line catches
:class:`HubError` in one place and prints its message without a traceback; anything else is a
bug and keeps its traceback.  Errors that used to be ``ValueError``/``LookupError`` still are, so
callers that catch the builtin keep working (the way httpx layers its exceptions).
"""

from __future__ import annotations


class HubError(Exception):
    """Root of the hub's errors: a message for people, a reason code, an exit status."""

    reason: str = "error"
    exit_code: int = 1

    def __init__(self, detail: str = "", *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class UsageError(HubError):
    """The command was given something it cannot use (exit status 2, as argparse does)."""

    reason = "usage"
    exit_code = 2


class NotFound(HubError, LookupError):
    """What was asked for does not exist (a message id, a dead letter, a connector)."""

    reason = "not_found"


class ConfigError(HubError, ValueError):
    """A setting, data file or contract file the hub cannot use."""

    reason = "config"


class ContractError(HubError, ValueError):
    """Bytes or a payload that do not meet the wire contract; ``reason`` is the dead-letter code."""

    reason = "invalid_payload"


class TrustError(HubError, ValueError):
    """A key, signature or directory entry that cannot be trusted."""

    reason = "bad_signature"


class BrokerUnavailable(HubError, RuntimeError):
    """The Kafka broker could not be started or reached."""

    reason = "broker_unavailable"
