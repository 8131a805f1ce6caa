"""Untrusted text made safe to show: escaped, bounded, one line.

Ids, addresses and header values come from outside before anything is authenticated.  Where a
log line or a dead-letter detail must name one, it goes through :func:`shown`: control and
non-printable characters are escaped (no forged log lines, no terminal escapes) and the length is
bounded (no megabyte log lines).
"""

from __future__ import annotations

DEFAULT_LIMIT = 80


def shown(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """``value`` with non-printable characters escaped, cut to ``limit`` characters."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    # Printable text (Chinese included) stays readable; newlines, escapes and the like do not.
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    if len(out) > limit:
        return out[: max(0, limit - 1)] + f"…(+{len(out) - limit + 1})"
    return out


def masked_url(url: str) -> str:
    """A URL fit for logs and ``hub config``: a password in it replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
