"""An RFC 9162 (Certificate Transparency v2) Merkle tree over the audit log, as pure functions.

Leaves are the audit records in ``seq`` order; a leaf's data is its record hash (hex, ASCII), so
the tree commits to exactly the chain ``hub audit verify`` checks.  Hashes (RFC 9162 §2.1.1):

    MTH({})      = SHA-256()
    leaf hash    = SHA-256(0x00 || data)
    node hash    = SHA-256(0x01 || left || right),  split at the largest power of two < n

Inclusion proofs (§2.1.3) show one record is in a tree of a given size and root; consistency
proofs (§2.1.4) show a tree of size m is a prefix of a tree of size n, i.e. nothing recorded was
changed or removed since.  The verifiers are the RFC's algorithms and need nothing but hashlib.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes ``leaves``."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over the leaf hashes."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) over the leaf hashes, 0 < m <= n."""
    n = len(leaves)
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from {m} to {n}")
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if m == n:
        return not proof and root_m == root_n
    if not 0 < m < n or not proof:
        return False
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is the first node of the path
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


class Tree:
    """The same tree with every subtree root computed once: a tree head, its inclusion proofs
    and consistency proofs from several earlier sizes share their subtrees, so together they
    cost about one pass over the leaves instead of one per proof."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._roots: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self.leaves)

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        """MTH of leaves[lo:hi]."""
        hi = len(self.leaves) if hi is None else hi
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.leaves[lo]
        cached = self._roots.get((lo, hi))
        if cached is None:
            k = _split(n)
            cached = node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
            self._roots[(lo, hi)] = cached
        return cached

    def consistency(self, m: int, n: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]), 0 < m <= n (n: the whole tree)."""
        n = len(self.leaves) if n is None else n
        if not 0 < m <= n <= len(self.leaves):
            raise ValueError(f"no consistency proof from {m} to {n}")
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.root(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self.root(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.root(lo, lo + k)]
