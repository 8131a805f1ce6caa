"""The gateway's one error: a request refused, with its HTTP status and the hub's reason code."""

from __future__ import annotations

from hub.core.errors import HubError
from hub.wire import jsoncheck


class GatewayError(HubError):
    """A request the gateway refuses: an HTTP status, a reason code, the problems found."""

    def __init__(
        self, status: int, reason: str, detail: str, errors: list[jsoncheck.Problem] | None = None
    ) -> None:
        super().__init__(detail, reason=reason)
        self.status = status
        self.errors = errors or []
