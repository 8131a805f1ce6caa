"""How many independent agencies vouched for a tree head of the audit log: the head the hub
published, its operators' signature, the log's own root at that size, and every cosignature the
hub gathered, each checked again here against the directory (a row in the store is not taken
on its word)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.audit.cosignatures import CosignatureError, cosigned_note, note_body, open_cosignature
from hub.audit.store import AuditStore
from hub.audit.transparency import CheckpointError, leaves, open_checkpoint
from hub.core import merkle
from hub.storage.cosignatures import CosignatureRows
from hub.storage.tree_heads import TreeHeads
from hub.trust.directory import Directory
from hub.trust.operators import OPERATORS


@dataclass
class Witnessed:
    tree_size: int = 0
    root_hash: str = ""
    #: The addresses whose cosignatures verified, one each however many keys they used.
    agencies: list[str] = field(default_factory=list)
    refused: int = 0
    #: The operators' checkpoint with every cosignature that verified (C2SP signed note).
    note: str = ""
    problem: str = ""

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def witnessed_head(
    heads: TreeHeads,
    rows: CosignatureRows,
    directory: Directory,
    store: AuditStore | None = None,
    size: int | None = None,
    cosigners: int = 1,
) -> Witnessed:
    """The head of ``size`` (default: the largest that ``cosigners`` agencies cosigned) and who
    vouched for it; with ``store``, the log's root at that size is recomputed and must be the
    head's."""
    size = size if size is not None else rows.latest_cosigned(cosigners)
    head = heads.at(size) if size else None
    if head is None:
        return Witnessed(problem=f"no published tree head has {cosigners} agencies' cosignatures")
    out = Witnessed(head.tree_size, head.root_hash)
    checkpoint = str(head.payload["checkpoint"])
    operators = directory.connectors.get(OPERATORS)
    for key in operators.keys if operators else ():
        try:
            _, at, root = open_checkpoint(
                checkpoint, key.key_id, directory_raw(directory, key.key_id)
            )
        except CheckpointError:
            continue
        if (at, root.hex()) == (head.tree_size, head.root_hash):
            break
    else:
        out.problem = "the head is not signed by a key of the operators in the directory"
        return out
    if store is not None:
        tree = merkle.StreamedTree(head.tree_size, store.suite.digest)
        tree.want_root()
        tree.feed(leaves(store, head.tree_size))
        if tree.root().hex() != head.root_hash:
            out.problem = f"the log's first {head.tree_size} records have another root"
            return out
    body, good = note_body(checkpoint), []
    for cosigner, key_id, line in rows.of_head(head.tree_size):
        owner, public = directory.key_owner(key_id), directory.public_key(key_id)
        try:
            if (
                owner is None
                or public is None
                or str(owner[0]) != cosigner
                or owner[0] == OPERATORS
            ):
                raise CosignatureError("not this cosigner's key")
            open_cosignature(line, body, public)
        except CosignatureError:
            out.refused += 1
            continue
        good.append(line)
        if cosigner not in out.agencies:
            out.agencies.append(cosigner)
    out.note = cosigned_note(checkpoint, good)
    return out


def directory_raw(directory: Directory, key_id: str) -> bytes:
    public = directory.public_key(key_id)
    return public.raw if public is not None else b""
