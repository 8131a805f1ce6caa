"""Signing keys that live in a hardware security module, reached through PKCS#11.

A key in a module is named by an RFC 7512 URI::

    pkcs11:token=hub;object=operators?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hub/pin

(``pin-value=…`` works too, but puts the PIN wherever the URI is written).  The private half is
generated inside the module, marked sensitive and not extractable, and never leaves it: every
signature is the module's.  Where this host would keep ``<key id>.pem`` it keeps
``<key id>.pkcs11`` holding the URI (``hub.trust.directory.load_signing_key``), so there is no
PEM of that key on disk, and ``hub keys list`` says where each key lives.

Which key type and mechanisms to ask for is the suite's answer (``Suite.pkcs11``): Ed25519 is
PKCS#11 v3.0's EC_EDWARDS with EDDSA.  PKCS#11 names no SM2 mechanism, so a ``gm`` key cannot be
made here; see docs/security.md for what a certified module (GM/T 0018) would need.

Sessions are opened per process and signature, under a lock: python-pkcs11 sessions are not
shared across threads, and a token may be used by the router and the audit sink at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hub.core.errors import TrustError
from hub.trust import suites
from hub.trust.suites import PrivateKey, PublicKey, Suite

SCHEME = "pkcs11:"
#: Beside where ``<key id>.pem`` would be: a file holding the URI of a key in a module.
REFERENCE_SUFFIX = ".pkcs11"


class HsmError(TrustError):
    """A PKCS#11 URI that cannot be used, or a module that refuses."""


@dataclass(frozen=True)
class Pkcs11Uri:
    module: str
    token: str
    label: str
    pin: str | None

    @classmethod
    def parse(cls, uri: str) -> Pkcs11Uri:
        """The parts of an RFC 7512 URI this hub uses: token, object, module-path, and the PIN
        from pin-value or pin-source (a file)."""
        if not uri.startswith(SCHEME):
            raise HsmError("a PKCS#11 URI starts with 'pkcs11:'")
        path, _, query = uri[len(SCHEME) :].partition("?")
        attrs = dict(_pair(p) for p in path.split(";") if p)
        queries = dict(_pair(q) for q in query.split("&") if q)
        module = queries.get("module-path", "")
        if not module or not attrs.get("token") or not attrs.get("object"):
            raise HsmError("the URI needs token=, object= and ?module-path=")
        pin = queries.get("pin-value")
        if "pin-source" in queries:
            source = queries["pin-source"].removeprefix("file:")
            try:
                pin = Path(source).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise HsmError(f"the PIN file {source} cannot be read: {exc.strerror}") from exc
        return cls(module, attrs["token"], attrs["object"], pin)

    def shown(self) -> str:
        """The URI without its PIN: what logs and ``hub keys list`` show."""
        return f"{SCHEME}token={self.token};object={self.label}?module-path={self.module}"


def _pair(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return unquote(name), unquote(value)


_lock = threading.Lock()


@cache
def _library(module: str) -> Any:
    import pkcs11

    try:
        return pkcs11.lib(module)
    except Exception as exc:  # the module's own error types: a missing or broken library
        raise HsmError(f"PKCS#11 module {module} cannot be loaded: {exc}") from exc


def _session(uri: Pkcs11Uri, *, rw: bool = False) -> Any:
    try:
        token = _library(uri.module).get_token(token_label=uri.token)
        return token.open(user_pin=uri.pin, rw=rw)
    except HsmError:
        raise
    except Exception as exc:
        raise HsmError(f"token {uri.token!r}: {type(exc).__name__} {exc}".strip()) from exc


def _names(suite: Suite) -> Any:
    if suite.pkcs11 is None:
        raise HsmError(
            f"suite {suite.name}: PKCS#11 has no mechanism for its signing keys; a certified "
            "module's own interface (GM/T 0018) is needed (docs/security.md)"
        )
    return suite.pkcs11


@dataclass(frozen=True)
class HsmPrivateKey(PrivateKey):
    """A private key whose signatures the module makes; ``handle`` is its URI, as given."""

    public_raw: bytes = b""

    @property
    def uri(self) -> Pkcs11Uri:
        return Pkcs11Uri.parse(str(self.handle))

    def public(self) -> PublicKey:
        return self.suite.public_from_raw(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        import pkcs11

        names, uri = _names(self.suite), self.uri
        with _lock, _session(uri) as session:
            key = session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY,
                key_type=pkcs11.KeyType[names.key_type],
                label=uri.label,
            )
            return bytes(key.sign(data, mechanism=pkcs11.Mechanism[names.sign_mechanism]))

    def derive(self, data: bytes) -> bytes:
        # An Ed25519 signature is deterministic, so its digest is a value only this key's
        # holder can compute and the same every time: what Suite.derive promises.
        return self.suite.digest(b"hub-derive-pkcs11\n" + self.sign(data))

    def pem(self) -> bytes:
        raise HsmError(f"{self.key_id} lives in a PKCS#11 module: it has no PEM")


def generate(uri_text: str, suite_name: str = suites.DEFAULT) -> HsmPrivateKey:
    """A new signing key pair made inside the module, under the URI's object label; refuses a
    label the token already holds (a key is never replaced in place)."""
    import pkcs11
    from pkcs11.util.ec import encode_named_curve_parameters

    suite = suites.by_name(suite_name)
    names, uri = _names(suite), Pkcs11Uri.parse(uri_text)
    key_type = pkcs11.KeyType[names.key_type]
    with _lock, _session(uri, rw=True) as session:
        existing = list(session.get_objects({pkcs11.Attribute.LABEL: uri.label}))
        if existing:
            raise HsmError(f"token {uri.token!r} already holds an object {uri.label!r}")
        params = session.create_domain_parameters(
            key_type,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(names.curve_oid)},
            local=True,
        )
        public, _ = params.generate_keypair(
            store=True,
            label=uri.label,
            mechanism=pkcs11.Mechanism[names.keygen_mechanism],
            private_template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
            },
        )
        point = bytes(public[pkcs11.Attribute.EC_POINT])
    raw = _unwrap_point(point)
    key_id = suite.public_from_raw(raw).key_id
    return HsmPrivateKey(suite, key_id, uri_text, raw)


def load(uri_text: str, key_id: str | None = None) -> HsmPrivateKey:
    """The key the URI names (its public half read from the module), checked to be ``key_id``
    when one is given; without, a key of the deployment's default suite."""
    import pkcs11

    uri = Pkcs11Uri.parse(uri_text)
    suite = suites.by_key_id(key_id) if key_id else suites.by_name(suites.DEFAULT)
    names = _names(suite)
    with _lock, _session(uri) as session:
        try:
            public = session.get_key(
                object_class=pkcs11.ObjectClass.PUBLIC_KEY,
                key_type=pkcs11.KeyType[names.key_type],
                label=uri.label,
            )
        except Exception as exc:
            raise HsmError(f"token {uri.token!r} holds no key {uri.label!r}") from exc
        raw = _unwrap_point(bytes(public[pkcs11.Attribute.EC_POINT]))
    found = suite.public_from_raw(raw).key_id
    if key_id and found != key_id:
        raise HsmError(f"the key {uri.label!r} in token {uri.token!r} is not {key_id}")
    return HsmPrivateKey(suite, found, uri_text, raw)


def _unwrap_point(point: bytes) -> bytes:
    """EC_POINT is a DER OCTET STRING around the raw point (SoftHSM2 and PKCS#11 3.0 say so)."""
    if len(point) >= 2 and point[0] == 0x04 and point[1] == len(point) - 2:
        return point[2:]
    return point
