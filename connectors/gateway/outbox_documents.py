"""The documents of an outbox row: ``hub_outbox_documents``, one row per document.

A document row names its outbox row (``outbox_id`` = ``hub_outbox.id``), its number ``n`` (from
1, the order they travel in), the ``name`` the recipient sees and its ``media_type``, and either
a ``path`` inside the relay's documents folder (a file the application wrote on a share both
see; nothing outside that folder is ever read, whatever a row names) or its bytes in
``content`` (bytea / LONGBLOB).  Content is read out of the database a slice at a time with
``SUBSTRING`` into a private file, so the relay's memory does not grow with a document's size
whichever way it is given; that file is removed once the message is sent or refused.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Column, Engine, Integer, LargeBinary, String, Table, Text, func, select
from sqlalchemy.dialects import mysql

from connectors.documents import DocumentFile
from connectors.gateway.outbox_tables import meta
from hub.core.files import open_confined, private_dir
from hub.wire import jsoncheck

documents = Table(
    "hub_outbox_documents",
    meta,
    Column("outbox_id", String(64), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("path", Text),
    Column("content", LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")),
)

#: The one reason a ``path`` is refused, whether it is outside the folder, a link, missing or
#: unreadable: a row writer must not learn from it which files exist on the relay's host.
NOT_IN_FOLDER = "is no file in the relay's documents folder"
#: How much of a stored document is read out of the database at a time.
SLICE = 512 * 1024


@dataclass
class RowDocuments:
    """What an outbox row's documents are, ready to send; ``remove()`` deletes the copies made
    from ``content``."""

    files: list[DocumentFile]
    problems: list[jsoncheck.Problem]
    copies: list[Path]
    opened: list[BinaryIO] = field(default_factory=list)

    def remove(self) -> None:
        for f in self.opened:
            f.close()
        for p in self.copies:
            p.unlink(missing_ok=True)


def row_documents(
    engine: Engine, outbox_id: str, work_dir: Path, documents_dir: Path | None = None
) -> RowDocuments:
    """The documents of one outbox row as files; problems (JSON pointers) when a row names no
    regular file inside ``documents_dir`` (None: no path is read at all), or both or neither of
    ``path`` and ``content``.  A path is opened once here, confined
    (:func:`hub.core.files.open_confined`), and that open file is what is sent."""
    out = RowDocuments([], [], [])
    no_content = documents.c.content.is_(None).label("no_content")
    c = documents.c
    listing = (
        select(c.n, c.name, c.media_type, c.path, no_content)
        .where(c.outbox_id == outbox_id)
        .order_by(c.n)
    )
    with engine.connect() as conn:
        rows = conn.execute(listing).all()
    for i, row in enumerate(rows, start=1):
        at = f"/documents/{i - 1}"
        if row.n != i:
            out.problems.append(jsoncheck.Problem(f"{at}/n", f"must be {i}: numbered from 1"))
            continue
        if (row.path is None) == row.no_content:
            out.problems.append(jsoncheck.Problem(at, "give path or content, one of them"))
            continue
        if row.path is not None:
            opened = open_confined(documents_dir, row.path) if documents_dir else None
            if opened is None:  # one reason for all: a row writer learns nothing of the disk
                out.problems.append(jsoncheck.Problem(f"{at}/path", NOT_IN_FOLDER))
                continue
            out.opened.append(opened)
            out.files.append(DocumentFile(Path(row.path), row.name, row.media_type, opened))
        else:
            path = _copy_out(engine, outbox_id, row.n, work_dir)
            out.copies.append(path)
            out.files.append(DocumentFile(path, row.name, row.media_type))
    if out.problems:
        out.remove()
    return out


def _copy_out(engine: Engine, outbox_id: str, n: int, work_dir: Path) -> Path:
    """The stored content of one document, a slice at a time, into a 0600 file."""
    private_dir(work_dir)
    path = work_dir / f"outbox-{secrets.token_hex(12)}"
    where = (documents.c.outbox_id == outbox_id) & (documents.c.n == n)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, engine.connect() as conn:
        size = conn.execute(select(func.length(documents.c.content)).where(where)).scalar() or 0
        # SUBSTRING counts from 1 on both databases, for bytea and BLOB alike.
        for start in range(1, size + 1, SLICE):
            piece = select(func.substring(documents.c.content, start, SLICE)).where(where)
            out.write(bytes(conn.execute(piece).scalar() or b""))
    return path
