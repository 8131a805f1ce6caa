"""RFC 9162 (Certificate Transparency v2) Merkle trees, as pure functions: over the audit log
(``hub.audit.transparency``) and over a document's chunks (``hub.wire.documents``).

In the audit log the leaves are the records in ``seq`` order, a leaf's data its record hash (hex,
ASCII), so the tree commits to exactly the chain ``hub audit verify`` checks; in a document, the
chunks in order, a leaf's data the chunk's bytes as they travel.  Hashes (RFC 9162 §2.1.1):

    MTH({})      = SHA-256()
    leaf hash    = SHA-256(0x00 || data)
    node hash    = SHA-256(0x01 || left || right),  split at the largest power of two < n

Inclusion proofs (§2.1.3) show one record is in a tree of a given size and root; consistency
proofs (§2.1.4) show a tree of size m is a prefix of a tree of size n, i.e. nothing recorded was
changed or removed since.  The verifiers are the RFC's algorithms.  The hash is a parameter
``h`` (SHA-256 by default, as the RFC has it; SM3 in the gm suite's logs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

#: The tree's hash function, bytes to digest.  RFC 9162 fixes SHA-256; the structure is the same
#: with another hash (the gm suite's logs use SM3: ``hub.trust.suites``), passed as ``h``.
Digest = Callable[[bytes], bytes]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes, h: Digest = sha256) -> bytes:
    return h(b"\x00" + data)


def node_hash(left: bytes, right: bytes, h: Digest = sha256) -> bytes:
    return h(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes], h: Digest = sha256) -> bytes:
    """MTH of the leaf hashes ``leaves``."""
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k], h), root(leaves[k:], h), h)


def inclusion_proof(index: int, leaves: Sequence[bytes], h: Digest = sha256) -> list[bytes]:
    """PATH(index, D[n]) over the leaf hashes."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k], h), root(leaves[k:], h)]
    return [*inclusion_proof(index - k, leaves[k:], h), root(leaves[:k], h)]


def consistency_proof(m: int, leaves: Sequence[bytes], h: Digest = sha256) -> list[bytes]:
    """PROOF(m, D[n]) over the leaf hashes, 0 < m <= n."""
    n = len(leaves)
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from {m} to {n}")
    return _subproof(m, leaves, True, h)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool, h: Digest) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves, h)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete, h), root(leaves[k:], h)]
    return [*_subproof(m - k, leaves[k:], False, h), root(leaves[:k], h)]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_: bytes, h: Digest = sha256
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r, h)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes], h: Digest = sha256
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
            fr = node_hash(c, fr, h)
            sr = node_hash(c, sr, h)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c, h)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[lo, hi)`` whose roots make PATH(index, D[size]), in proof order.

    They are disjoint, so one pass over the leaves computes them all (``StreamedTree``)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    return out[::-1]


def consistency_ranges(m: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make PROOF(m, D[size]), 0 < m <= size, in proof order."""
    if not 0 < m <= size:
        raise ValueError(f"no consistency proof from {m} to {size}")
    out: list[tuple[int, int]] = []
    lo, hi, complete = 0, size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m, lo, complete = m - k, lo + k, False
    if not complete:
        out.append((lo, hi))
    return out[::-1]


class StreamedTree:
    """Tree heads and proofs of a tree of ``size`` leaves from one pass over its leaves, in
    memory that does not grow with the log: ask for what is wanted, ``feed`` the leaf hashes in
    order, then read the answers.

    Each wanted subtree root is folded as its leaves go by (a stack of complete subtrees, at
    most log2(size) deep); the leaves themselves are not kept.
    """

    def __init__(self, size: int, h: Digest = sha256) -> None:
        if size < 0:
            raise ValueError("a tree has no negative size")
        self.size, self.h = size, h
        self._wanted: set[tuple[int, int]] = set()
        self._roots: dict[tuple[int, int], bytes] = {}
        self._fed = False

    def want_root(self, lo: int = 0, hi: int | None = None) -> None:
        hi = self.size if hi is None else hi
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"no subtree [{lo}, {hi}) in a tree of {self.size}")
        self._wanted.add((lo, hi))

    def want_inclusion(self, index: int) -> None:
        self._wanted.update(inclusion_ranges(index, self.size))

    def want_consistency(self, m: int) -> None:
        self._wanted.update(consistency_ranges(m, self.size))
        self.want_root(0, m)

    def feed(self, leaves: Iterable[bytes]) -> None:
        """Consume the tree's leaf hashes in order; exactly ``size`` of them."""
        starts: dict[int, list[tuple[int, int]]] = {}
        for r in self._wanted:
            starts.setdefault(r[0], []).append(r)
        active: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        count = 0
        for i, leaf in enumerate(leaves):
            if i >= self.size:
                raise ValueError(f"more than {self.size} leaves fed to a tree of {self.size}")
            for r in starts.pop(i, ()):
                active[r] = []
            for r, stack in list(active.items()):
                stack.append((1, leaf))
                while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
                    (n, right), (_, left) = stack.pop(), stack.pop()
                    stack.append((2 * n, node_hash(left, right, self.h)))
                if r[1] == i + 1:
                    self._roots[r] = _fold(active.pop(r), self.h)
            count = i + 1
        if count != self.size:
            raise ValueError(f"{count} leaves fed to a tree of {self.size}")
        self._fed = True

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        hi = self.size if hi is None else hi
        if lo == hi == 0:
            return self.h(b"")
        return self._answer((lo, hi))

    def inclusion(self, index: int) -> list[bytes]:
        return [self._answer(r) for r in inclusion_ranges(index, self.size)]

    def consistency(self, m: int) -> list[bytes]:
        return [self._answer(r) for r in consistency_ranges(m, self.size)]

    def _answer(self, r: tuple[int, int]) -> bytes:
        if not self._fed:
            raise RuntimeError("feed the leaves before reading the tree")
        try:
            return self._roots[r]
        except KeyError:
            raise ValueError(f"subtree {r} was not asked for before the leaves were fed") from None


def _fold(stack: list[tuple[int, bytes]], h: Digest) -> bytes:
    """MTH of a range from its complete subtrees, largest first (RFC 9162 splits the same way)."""
    r = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        r = node_hash(left, r, h)
    return r


class RootBuilder:
    """The RFC 9162 root of leaves pushed one at a time, in O(log n) memory: what a document's
    chunks are checked against as they stream by."""

    def __init__(self, h: Digest = sha256) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.count, self.h = 0, h

    def add(self, leaf: bytes) -> None:
        self._stack.append((1, leaf))
        while len(self._stack) > 1 and self._stack[-1][0] == self._stack[-2][0]:
            (n, right), (_, left) = self._stack.pop(), self._stack.pop()
            self._stack.append((2 * n, node_hash(left, right, self.h)))
        self.count += 1

    def root(self) -> bytes:
        return _fold(self._stack, self.h) if self._stack else self.h(b"")
