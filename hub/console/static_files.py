"""The console's scripts, served from the package: its own ``verify.js`` and the vendored SM2
and SM3 of sm-crypto (``static/vendor/sm-crypto/README.md``), which WebCrypto lacks."""

from __future__ import annotations

from importlib import resources

#: Only these are served: a name off this list is a 404, never a path into the package.
SCRIPTS = frozenset({"verify.js", "vendor/sm-crypto/sm2.js", "vendor/sm-crypto/sm3.js"})


def static_script(name: str) -> str | None:
    if name not in SCRIPTS:
        return None
    return resources.files("hub.console").joinpath("static", *name.split("/")).read_text("utf-8")


#: The console's icon (a shield in the header's blue with 监, for 监管): every page links it, and
#: browsers that ask for /favicon.ico anyway get it there too, not a 404 in every log.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<path d="M16 2 4 6v9c0 7.5 5.1 13.2 12 15 6.9-1.8 12-7.5 12-15V6z" fill="#123a63"/>'
    '<text x="16" y="22" font-size="14" text-anchor="middle" fill="#fff" '
    'font-family="WenQuanYi Zen Hei, sans-serif">监</text></svg>'
)
