"""Documents as chunks: split and put back together byte for byte, in clear or sealed for the
recipient; every corrupt, missing, reordered, moved or oversized chunk and every media type that
lies is caught; memory does not grow with the document."""

from __future__ import annotations

import io
import os
import tracemalloc

import pytest

from hub.core import merkle
from hub.trust import e2e, suites
from hub.wire.documents import (
    CHUNK_BYTES,
    CHUNK_PLAINTEXT,
    Chunk,
    DocumentAssembler,
    DocumentError,
    DocumentRef,
    Sealing,
    SplitDocument,
    manifest_digest,
)
from hub.wire.media import media_problem

PDF = b"%PDF-1.7\n" + os.urandom(64)
PARTIES = {"message_id": "m-1", "sender": "MIB@350582", "recipient": "PSB@350582"}
INFO = b"payload-info"


def pdf(size: int) -> bytes:
    return (PDF + os.urandom(max(0, size - len(PDF))))[:size] if size else b""


def split(data: bytes, *, key: e2e.EncryptionKey | None = None, media_type: str = "application/pdf",
          n: int = 1, max_bytes: int = 2 * 1024**3) -> tuple[list[Chunk], DocumentRef]:  # fmt: skip
    sealing = Sealing(key.public, INFO) if key else None
    doc = SplitDocument(io.BytesIO(data), len(data), n, name="筛查明细.pdf", media_type=media_type,
                        sealing=sealing, max_bytes=max_bytes, **PARTIES)  # fmt: skip
    chunks = list(doc.chunks())
    return chunks, doc.ref


def assemble(chunks: list[Chunk], ref: DocumentRef, key: e2e.EncryptionKey | None = None,
             **parties: str) -> bytes:  # fmt: skip
    out = io.BytesIO()
    opener = (
        (lambda sealed: e2e.open_descriptor(sealed, key, e2e.document_info(INFO, ref.n)))
        if key
        else None
    )
    asm = DocumentAssembler(ref, out=out, open_descriptor=opener, **{**PARTIES, **parties})
    for c in chunks:
        asm.add(c)
    asm.finish()
    return out.getvalue()


@pytest.mark.parametrize(
    "size", [5, 100, CHUNK_PLAINTEXT, CHUNK_PLAINTEXT + 1, 3 * CHUNK_PLAINTEXT - 7]
)
@pytest.mark.parametrize("sealed", [False, True])
def test_a_document_comes_out_byte_for_byte_in_clear_and_sealed(size: int, sealed: bool) -> None:
    key = e2e.EncryptionKey.generate() if sealed else None
    data = pdf(size)
    chunks, ref = split(data, key=key)
    assert ref.chunk_count == len(chunks) == max(1, -(-size // CHUNK_PLAINTEXT))
    assert all(len(c.data) <= CHUNK_BYTES for c in chunks)
    assert ref.chunks_root == merkle.root([merkle.leaf_hash(c.data) for c in chunks])
    assert assemble(chunks, ref, key) == data


def test_a_sealed_document_shows_the_hub_neither_its_bytes_nor_its_name() -> None:
    key = e2e.EncryptionKey.generate()
    data = pdf(2 * CHUNK_PLAINTEXT)
    chunks, ref = split(data, key=key)
    wire = b"".join(c.data for c in chunks) + ref.descriptor
    for i in range(0, len(data) - 32, 4096):
        assert data[i : i + 32] not in wire
    assert "筛查明细".encode() not in wire and b"application/pdf" not in wire
    other = e2e.EncryptionKey.generate()
    with pytest.raises(e2e.DecryptionError):
        assemble(chunks, ref, other)


def test_a_corrupt_chunk_is_caught_in_clear_and_sealed() -> None:
    for key in (None, e2e.EncryptionKey.generate()):
        chunks, ref = split(pdf(2 * CHUNK_PLAINTEXT), key=key)
        bad = bytearray(chunks[1].data)
        bad[100] ^= 1
        chunks[1] = Chunk(**{**chunks[1].__dict__, "data": bytes(bad)})
        with pytest.raises(DocumentError) as err:
            assemble(chunks, ref, key)
        assert err.value.reason == "corrupt_chunk"


def test_a_missing_or_reordered_chunk_is_caught_and_a_repeat_is_ignored() -> None:
    chunks, ref = split(pdf(3 * CHUNK_PLAINTEXT))
    with pytest.raises(DocumentError) as missing:
        assemble([chunks[0], chunks[2]], ref)
    assert missing.value.reason == "missing_chunk"
    with pytest.raises(DocumentError) as short:
        assemble(chunks[:2], ref)
    assert short.value.reason == "missing_chunk"
    with pytest.raises(DocumentError):
        assemble([chunks[1], chunks[0], chunks[2]], ref)
    assert assemble([chunks[0], chunks[0], chunks[1], chunks[1], chunks[2]], ref) == assemble(
        chunks, ref
    )


def test_a_sealed_chunk_moved_to_another_message_or_place_does_not_open() -> None:
    key = e2e.EncryptionKey.generate()
    chunks, ref = split(pdf(2 * CHUNK_PLAINTEXT), key=key)
    with pytest.raises(DocumentError) as moved:
        assemble(chunks, ref, key, message_id="m-2")
    assert moved.value.reason == "corrupt_chunk"
    swapped = [
        Chunk(**{**chunks[1].__dict__, "index": 0}),
        Chunk(**{**chunks[0].__dict__, "index": 1}),
    ]
    with pytest.raises(DocumentError):
        assemble(swapped, ref, key)


def test_a_declared_media_type_must_match_the_bytes() -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(100)
    with pytest.raises(DocumentError) as lie:
        split(png, media_type="application/pdf")
    assert lie.value.reason == "media_mismatch"
    assert split(png, media_type="image/png")[1].chunk_count == 1
    assert media_problem("application/octet-stream", png) is not None
    assert media_problem("text/csv; charset=utf-8", "序号,医院\n1,晋江".encode()) is None
    assert media_problem("text/plain", b"\x00\x01binary") is not None
    xlsx_head = b"PK\x03\x04" + os.urandom(50)
    assert (
        media_problem(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx_head
        )
        is None
    )
    assert media_problem("image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(20)) is None


def test_documents_and_chunks_over_the_limits_are_refused() -> None:
    with pytest.raises(DocumentError) as big:
        split(pdf(3 * CHUNK_PLAINTEXT), max_bytes=2 * CHUNK_PLAINTEXT)
    assert big.value.reason == "document_too_large"
    up = "0" * 32
    chunk = Chunk("m", "A@1", "B@2", 1, 0, 1, b"x" * (CHUNK_BYTES + 1), up)
    assert (p := chunk.problem()) is not None and p.reason == "oversized_chunk"
    huge = Chunk("m", "A@1", "B@2", 1, 0, 5000, b"x", up)
    assert (p := huge.problem()) is not None and p.reason == "document_too_large"
    assert Chunk("m", "A@1", "B@2", 1, 3, 3, b"x", up).problem() is not None
    assert Chunk("m", "A@1", "B@2", 1, 0, 1, b"x", up).problem() is None
    no_upload = Chunk("m", "A@1", "B@2", 1, 0, 1, b"x", "not-hex")
    assert (p := no_upload.problem()) is not None and p.reason == "invalid_chunk"


def test_the_manifest_digest_changes_with_every_field() -> None:
    ref = DocumentRef(1, 3, 1000, b"\x01" * 32, b"descriptor")
    base = manifest_digest([ref])
    for changed in (
        DocumentRef(2, 3, 1000, b"\x01" * 32, b"descriptor"),
        DocumentRef(1, 4, 1000, b"\x01" * 32, b"descriptor"),
        DocumentRef(1, 3, 1001, b"\x01" * 32, b"descriptor"),
        DocumentRef(1, 3, 1000, b"\x02" * 32, b"descriptor"),
        DocumentRef(1, 3, 1000, b"\x01" * 32, b"Descriptor"),
        DocumentRef(1, 3, 1000, b"\x01" * 32, b"descriptor", "1" * 32),
    ):
        assert manifest_digest([changed]) != base
    assert manifest_digest([]) != base


def test_the_root_builder_agrees_with_the_rfc_root() -> None:
    for n in range(0, 34):
        leaves = [merkle.leaf_hash(bytes([i])) for i in range(n)]
        builder = merkle.RootBuilder()
        for leaf in leaves:
            builder.add(leaf)
        assert builder.root() == merkle.root(leaves)


def test_memory_does_not_grow_with_the_document(tmp_path) -> None:
    """24 MiB split and sealed to disk, then opened and written out, a chunk at a time: the
    peak of Python allocations stays within a few chunks either way."""
    key = e2e.EncryptionKey.generate()
    size = 48 * CHUNK_PLAINTEXT
    source_path, store = tmp_path / "evidence.pdf", tmp_path / "chunks"
    with source_path.open("wb") as f:
        f.write(PDF)
        for _ in range(size // (1 << 20) + 1):
            f.write(os.urandom(1 << 20))
        f.truncate(size)
    tracemalloc.start()
    with source_path.open("rb") as src, store.open("wb") as out:
        doc = SplitDocument(src, size, 1, name="big.pdf", media_type="application/pdf",
                            sealing=Sealing(key.public, INFO), **PARTIES)  # fmt: skip
        for c in doc.chunks():
            out.write(len(c.data).to_bytes(4, "big") + c.data)
    split_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    ref = doc.ref
    opener = lambda sealed: e2e.open_descriptor(sealed, key, e2e.document_info(INFO, 1))  # noqa: E731
    with store.open("rb") as f, (tmp_path / "out.pdf").open("wb") as out:
        asm = DocumentAssembler(ref, out=out, open_descriptor=opener, **PARTIES)
        for index in range(ref.chunk_count):
            data = f.read(int.from_bytes(f.read(4), "big"))
            asm.add(Chunk(PARTIES["message_id"], PARTIES["sender"], PARTIES["recipient"], 1,
                          index, ref.chunk_count, data, ref.upload))  # fmt: skip
        asm.finish()
    assemble_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (tmp_path / "out.pdf").read_bytes() == source_path.read_bytes()
    assert split_peak < 6 * CHUNK_BYTES and assemble_peak < 6 * CHUNK_BYTES, (
        split_peak,
        assemble_peak,
    )


def test_under_gm_a_document_is_sealed_sm4_and_its_chunk_tree_is_sm3() -> None:
    gm = suites.GM
    key = e2e.EncryptionKey.generate("gm")
    data = pdf(2 * CHUNK_PLAINTEXT + 9)
    doc = SplitDocument(io.BytesIO(data), len(data), 1, name="谈话笔录.pdf",
                        media_type="application/pdf", sealing=Sealing(key.public, INFO),
                        tree=gm, **PARTIES)  # fmt: skip
    chunks = list(doc.chunks())
    ref = doc.ref
    assert {c.tree for c in chunks} == {"sm3"}
    assert ref.chunks_root == merkle.root(
        [merkle.leaf_hash(c.data, gm.digest) for c in chunks], gm.digest
    )
    assert ref.chunks_root != merkle.root([merkle.leaf_hash(c.data) for c in chunks])
    assert Chunk.from_record(chunks[0].to_record()) == chunks[0]

    def opened(tree: suites.Suite) -> DocumentAssembler:
        out = io.BytesIO()
        asm = DocumentAssembler(
            ref, out=out, tree=tree,
            open_descriptor=lambda sealed: e2e.open_descriptor(sealed, key,
                                                                e2e.document_info(INFO, 1)),
            **PARTIES,
        )  # fmt: skip
        for c in chunks:
            asm.add(c)
        return asm

    asm = opened(gm)
    asm.finish()
    assert asm.root == ref.chunks_root
    assert opened(suites.INTL).root != ref.chunks_root  # the tree of another hash never matches
    with pytest.raises(DocumentError):
        opened(suites.INTL).finish()


def test_a_chunk_declaring_an_unknown_tree_hash_is_refused() -> None:
    chunks, _ = split(pdf(10))
    odd = Chunk(**{**chunks[0].__dict__, "tree": "md5"})
    problem = odd.problem()
    assert problem is not None and problem.reason == "invalid_chunk"
