"""The hub operators' own identity.

Their connector ``HUB@100000`` signs SLA events and audit checkpoints and receives every
escalation.  100000 is the national pseudo-region (全国); no agency office uses it.
"""

from __future__ import annotations

from hub.trust.address import Address

OPERATORS = Address("HUB", "100000")
