"""Which media types a document may declare, and whether its first bytes agree.

Evidence is claim lists, scanned records, invoices, bank statements, interview notes: PDF,
JPEG/PNG/TIFF scans, spreadsheets and word-processor files (ZIP containers), ZIP bundles, plain
text and CSV.  A declared type must be one of these, and the document's first bytes must carry
its magic number (for text: valid UTF-8 without NUL bytes); a generic type such as
``application/octet-stream`` would defeat the check, so it is not offered.  Checked by the
sender's connector before anything is sent and again by the recipient's after decryption (the
hub cannot look inside an encrypted document).  Pure: bytes in, a problem or None out.
"""

from __future__ import annotations

ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # a ZIP with entries, or an empty one
OOXML = ZIP  # .xlsx, .docx, .pptx are ZIP containers

#: media type -> the prefixes its bytes may start with (None: text, checked as UTF-8)
MAGIC: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/zip": ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": OOXML,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": OOXML,
    "application/vnd.ms-excel": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),  # OLE2 .xls
    "application/msword": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),  # OLE2 .doc
    "application/ofd": ZIP,  # OFD (GB/T 33190), China's format of electronic invoices
    "text/plain": None,
    "text/csv": None,
    "application/json": None,
}

#: How many leading bytes a check needs.
HEAD = 4096


def media_problem(declared: str, head: bytes) -> str | None:
    """Why ``head`` (the document's first bytes, up to ``HEAD``) does not fit ``declared``;
    None when it does."""
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type not in MAGIC:
        return f"media type {media_type!r} is not one the hub carries ({', '.join(sorted(MAGIC))})"
    prefixes = MAGIC[media_type]
    if prefixes is None:
        if b"\x00" in head:
            return f"declared {media_type}, but the bytes contain NUL: not text"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # a character cut at the end of the head is fine
                return f"declared {media_type}, but the bytes are not UTF-8"
        return None
    if not any(head.startswith(p) for p in prefixes):
        return f"declared {media_type}, but the bytes do not start as one does"
    return None
