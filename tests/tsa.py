"""A real RFC 3161 time-stamping authority for the tests: ``openssl ts -reply`` behind a small
HTTP endpoint (POST application/timestamp-query → application/timestamp-reply), with its own CA
and a TSA certificate for timeStamping.  Not a mock: OpenSSL signs every token."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/ca.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(path: Path, obj: object) -> None:
    if isinstance(obj, x509.Certificate):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(obj.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip


class LocalTsa:
    """Start with ``with LocalTsa() as tsa:``; ``tsa.url`` takes queries, ``tsa.ca`` is the CA
    certificate a verifier trusts, ``tsa.down`` makes it answer 503 (an outage)."""

    def __init__(self, tsa_key_type: str = "ec") -> None:
        """``tsa_key_type`` "rsa" gives the TSA a certificate longer than its CA's, so the
        chain OpenSSL sends (the TSA's first) is out of DER set order, as real TSAs' often is."""
        self._tmp = tempfile.TemporaryDirectory(prefix="tsa-")
        self.dir = Path(self._tmp.name)
        self.down = False
        now = datetime.now(UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        tsa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if tsa_key_type == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        ca = (
            x509.CertificateBuilder().subject_name(_name("root")).issuer_name(_name("root"))
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        tsa = (
            x509.CertificateBuilder().subject_name(_name("test tsa")).issuer_name(ca.subject)
            .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        _pem(self.dir / "ca.crt", ca)
        _pem(self.dir / "tsa.crt", tsa)
        _pem(self.dir / "tsa.key", tsa_key)
        (self.dir / "serial").write_text("01\n")
        (self.dir / "tsa.cnf").write_text(CONFIG.format(dir=self.dir))
        self.ca = self.dir / "ca.crt"
        self.answered = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if owner.down:
                    self.send_error(503, "the TSA is down")
                    return
                with owner._lock, tempfile.TemporaryDirectory(dir=owner.dir) as work:
                    (Path(work) / "q.tsq").write_bytes(query)
                    out = subprocess.run(
                        ["openssl", "ts", "-reply", "-config", str(owner.dir / "tsa.cnf"),
                         "-queryfile", str(Path(work) / "q.tsq"),
                         "-out", str(Path(work) / "r.tsr")], capture_output=True,
                    )  # fmt: skip
                    reply = (Path(work) / "r.tsr").read_bytes() if out.returncode == 0 else b""
                if not reply:
                    self.send_error(400, "not a time-stamp query")
                    return
                owner.answered += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalTsa:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()
