"""Tree heads of the audit log pinned in the signed directory.

When the operators sign a directory version they may pin the latest tree head the hub published
(``hub directory publish --pin-head``).  A connector that has kept no head yet starts from the
pinned one instead of trusting the first head it is sent: that first head must then come with a
consistency proof from the pinned head, which ends trust on first use.  The pin is as
trustworthy as the directory key, which agencies already trust through their anchor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PinnedHead:
    origin: str
    tree_size: int
    root_hash: str  # hex


def pinned_to_json(heads: tuple[PinnedHead, ...]) -> list[dict[str, Any]]:
    return [h.__dict__ for h in heads]


def pinned_from_json(items: Any) -> tuple[PinnedHead, ...]:
    if not isinstance(items, list):
        raise ValueError("audit_heads must be a list")
    heads = []
    for item in items:
        head = PinnedHead(str(item["origin"]), item["tree_size"], str(item["root_hash"]))
        if not isinstance(head.tree_size, int) or head.tree_size < 1:
            raise ValueError("a pinned head's tree_size is a positive whole number")
        bytes.fromhex(head.root_hash)
        heads.append(head)
    return tuple(heads)
