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
