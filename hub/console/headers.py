"""What every console answer carries whatever page it is: the security headers, and the one
content type of its plain-text answers."""

from __future__ import annotations

from fastapi.responses import Response

#: Sent with every answer: no script but the console's own, no framing by another site (the
#: weekly report's print view is framed by the console itself), no guessing of types, no
#: referrer leaving with a hand-off id, and nothing of a case kept in a browser's cache.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PLAIN = "text/plain; charset=utf-8"


def secured(path: str, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if path == "/weekly/print":  # shown inside the console's own /weekly page
        response.headers["Content-Security-Policy"] = SECURITY_HEADERS[
            "Content-Security-Policy"
        ].replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    if not path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response
