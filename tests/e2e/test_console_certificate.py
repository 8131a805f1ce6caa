"""Certificate sign-in through a real TLS proxy: Debian's nginx, configured from
ops/console/nginx.conf.template, verifies the officer's client certificate against the agencies'
CA and passes it to `hub console --client-cert-header`; Debian's Chromium, driven by Playwright,
presents the certificate as a USB key would.  A certificate from another CA never reaches the
console, and one the CA issued to nobody's account is refused by it."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from string import Template
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from playwright.sync_api import Browser

from hub.runtime.broker import free_port
from tests.gatewayproc import spawn_cli
from tests.hubproc import HubProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    sha256: str


class Authority:
    """A CA that issues server and client certificates into ``folder``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        self.cert = (
            self._builder(subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = folder / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(
        self, subject: x509.Name, public: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(getattr(self, "name", subject))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    def issue(self, cn: str, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]),
                                key.public_key())  # fmt: skip
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path, key_path = self.folder / f"{cn}.crt", self.folder / f"{cn}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        return Issued(cert_path, key_path, cert.fingerprint(hashes.SHA256()).hex())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued | Path]:
    folder = tmp_path_factory.mktemp("pki")
    agencies, elsewhere = Authority(folder, "agencies-ca"), Authority(folder, "elsewhere-ca")
    return {
        "ca": agencies.path,
        "server": agencies.issue("127.0.0.1", server=True),
        "officer": agencies.issue("qz-audit-07"),
        "nobody": agencies.issue("no-account"),
        "stranger": elsewhere.issue("qz-audit-07-forged"),
    }


@pytest.fixture(scope="module")
def proxied(hub: HubProcess, pki: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hub console`` on loopback behind nginx; yields the https URL officers open."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: `./dev test` installs Debian's nginx package")
    subprocess.run(
        [sys.executable, "-m", "hub.cli", "console", "officer", "add", "qz-audit-07",
         "--scope", "350500", "--cert-sha256", pki["officer"].sha256,
         "--password-env", "OFFICER_PASSWORD"],
        env={**hub.env, "OFFICER_PASSWORD": "a long enough password"}, check=True,
        capture_output=True,
    )  # fmt: skip
    console_port, https_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    secret = secrets.token_hex(32)
    secret_file = tmp_path_factory.mktemp("proxy") / "proxy-secret"
    secret_file.write_text(secret + "\n")
    console, _log = spawn_cli(hub, "console-cert", "console", "--port", str(console_port),
                              "--client-cert-header", "X-SSL-Client-Cert",
                              "--proxy-secret-file", str(secret_file),
                              "--client-ca", str(pki["ca"]))  # fmt: skip
    prefix = tmp_path_factory.mktemp("nginx")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir()
    template = Template((ROOT / "ops/console/nginx.conf.template").read_text())
    (prefix / "nginx.conf").write_text(template.safe_substitute(
        prefix=prefix, https_port=https_port, console_port=console_port,
        server_cert=pki["server"].cert, server_key=pki["server"].key, client_ca=pki["ca"],
        proxy_secret=secret,
    ))  # fmt: skip
    nginx = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"https://127.0.0.1:{https_port}"
    DIRECT["url"] = f"http://127.0.0.1:{console_port}"
    try:
        wait_until(lambda: _answers(url), timeout=60, what="nginx in front of hub console")
        yield url
    finally:
        nginx.terminate()
        console.terminate()
        nginx.wait(20)
        console.wait(20)


#: The console's own port, behind nginx: what an attacker on the host could reach with curl.
DIRECT: dict[str, str] = {}


def _answers(url: str) -> bool:
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{url}/login", timeout=2, context=context) as r:
            return r.status == 200
    except OSError:
        return False


def _with_certificate(browser: Browser, url: str, issued: Issued | None):  # type: ignore[no-untyped-def]
    certificates = [{"origin": url, "certPath": str(issued.cert), "keyPath": str(issued.key)}]
    return browser.new_context(ignore_https_errors=True,
                               client_certificates=certificates if issued else [])  # fmt: skip


def test_an_officer_signs_in_with_the_certificate_on_their_key_through_nginx(
    proxied: str, pki: dict, browser: Browser
) -> None:
    context = _with_certificate(browser, proxied, pki["officer"])
    page = context.new_page()
    page.goto(f"{proxied}/login")
    page.click("#certificate")
    page.wait_for_url(f"{proxied}/")
    assert "qz-audit-07" in page.inner_text(".who")
    # The session is the console's own: it holds without the certificate header being re-read.
    page.goto(f"{proxied}/")
    assert "辖区 350500" in page.inner_text(".who")
    context.close()


def test_a_certificate_the_ca_issued_to_no_account_is_refused_by_the_console(
    proxied: str, pki: dict, browser: Browser
) -> None:
    context = _with_certificate(browser, proxied, pki["nobody"])
    page = context.new_page()
    response = page.goto(f"{proxied}/login/certificate")
    assert response is not None and response.status == 401
    assert page.query_selector(".who") is None
    context.close()


def test_without_a_certificate_or_with_another_cas_the_console_never_signs_anyone_in(
    proxied: str, pki: dict, browser: Browser
) -> None:
    bare = browser.new_context(ignore_https_errors=True)
    response = bare.new_page().goto(f"{proxied}/login/certificate")
    assert response is not None and response.status == 401  # nginx passed an empty header
    bare.close()
    # A header the browser forges is overwritten by nginx.
    forged = browser.new_context(
        ignore_https_errors=True,
        extra_http_headers={"X-SSL-Client-Cert": quote(pki["officer"].cert.read_text())},
    )
    response = forged.new_page().goto(f"{proxied}/login/certificate")
    assert response is not None and response.status == 401
    forged.close()
    # nginx refuses a certificate its CA did not issue before the console sees anything.
    stranger = _with_certificate(browser, proxied, pki["stranger"])
    response = stranger.new_page().goto(f"{proxied}/login/certificate")
    assert response is not None and response.status == 400
    stranger.close()


def test_curl_with_a_forged_certificate_header_straight_to_the_console_gets_no_session(
    proxied: str, pki: dict
) -> None:
    """Issue 30.6: the header alone, with the officer's public certificate, is not enough: the
    console believes it only with the proxy's secret."""
    curl = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}",
         "-H", f"X-SSL-Client-Cert: {quote(pki['officer'].cert.read_text())}",
         "-H", "X-Hub-Proxy-Secret: guessed", f"{DIRECT['url']}/login/certificate"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert curl.stdout.endswith("401"), curl.stdout
    assert "hub_console=" not in curl.stdout  # no session cookie
