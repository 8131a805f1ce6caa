"""``hub gateway --as AGENCY@REGION``: the connector, its store, the inbox reader, the optional
pusher and the HTTP API, started together and stopped in the reverse order.

The gateway listens on loopback by default: it holds the agency's private keys and is meant to
sit beside the agency's own systems, as X-Road's security server does.  A first start makes a
token named ``default`` and leaves it in ``<home>/gateway/<ADDR>.token`` (0600), so a person
can try it with curl at once; ``hub gateway token new`` makes more.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.client import Connector, inbox_membership
from connectors.gateway.api import create_api
from connectors.gateway.hubview import hub_view
from connectors.gateway.outbox import (
    DatabaseInbox,
    OutboxRelay,
    OutboxRunner,
    agency_engine,
    documents_folder,
)
from connectors.gateway.push import Pusher
from connectors.gateway.receiver import Receiver
from connectors.gateway.service import Gateway
from connectors.gateway.store import GatewayStore
from hub.core.config import Settings
from hub.core.files import private_file
from hub.core.process_lock import service_lock
from hub.trust.address import Address

log = logging.getLogger("gateway")


@dataclass(frozen=True)
class GatewayOptions:
    address: Address
    host: str = "127.0.0.1"
    port: int = 8080
    push_url: str = ""
    push_secret: str = ""
    push_max_attempts: int = 8
    tls_cert: str = ""
    tls_key: str = ""
    client_ca: str = ""  # with TLS: require client certificates signed by this CA (mTLS)
    auto_receipt: bool = False
    #: The agency's own database (PostgreSQL or MariaDB): its hub_outbox rows are sent and what
    #: arrives is written to its hub_inbox too (gateway.outbox).
    outbox_url: str = ""
    #: The only folder an outbox row's document path may name ("": HOME/outbox/ADDR.documents).
    outbox_documents_dir: str = ""


def store_path(settings: Settings, address: Address) -> Path:
    return settings.home / "gateway" / f"{address}.db"


def token_path(settings: Settings, address: Address) -> Path:
    return settings.home / "gateway" / f"{address}.token"


def open_store(settings: Settings, address: Address) -> GatewayStore:
    return GatewayStore(store_path(settings, address))


def authenticator(store: GatewayStore, mtls: bool) -> Any:
    def authenticate(request: Any) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            return store.caller_of(token.strip())
        if mtls and request.url.scheme == "https":
            # The TLS layer admitted only certificates of the client CA.
            return "mtls-client"
        return None

    return authenticate


class RunningGateway:
    """Everything of one gateway but the HTTP server; ``app`` is the ASGI application."""

    def __init__(self, settings: Settings, options: GatewayOptions) -> None:
        self.options = options
        self.store = open_store(settings, options.address)
        path = token_path(settings, options.address)
        if not self.store.token_names():
            private_file(path).write_text(self.store.new_token("default") + "\n")
            log.info("made the API token 'default' in %s: hand it over, then delete the file", path)
        elif path.exists():  # the store keeps hashes only; this is the one copy in clear
            log.warning("the API token 'default' still lies in clear in %s: delete it once the "
                        "agency's application has it", path)  # fmt: skip
        self.connector = Connector.from_settings(settings, options.address)
        self.gateway = Gateway(
            self.connector,
            self.store,
            uploads_dir=settings.home / "gateway" / f"{options.address}.uploads",
            max_document_bytes=settings.max_document_bytes,
        )
        self.outbox: OutboxRunner | None = None
        if options.outbox_url:
            engine = agency_engine(options.outbox_url)
            self.gateway.also_to(DatabaseInbox(engine).write)
            relay = OutboxRelay(
                engine, self.connector, work_dir=self.gateway.uploads_dir,
                documents_dir=documents_folder(
                    settings.home, options.address, options.outbox_documents_dir
                ),
            )  # fmt: skip
            self.outbox = OutboxRunner(relay).start()
        resent = self.gateway.recover()
        if resent:
            log.warning("published again %d sealed messages not confirmed before", resent)
        self.connector.follow_directory()  # registrations and rotations, without a file copy
        self.receiver = Receiver(
            self.gateway,
            auto_receipt=options.auto_receipt,
            membership=inbox_membership(settings, self.connector, f"gateway-{options.address}"),
        ).start()
        self.pusher = (
            Pusher(
                self.store,
                options.push_url,
                options.push_secret,
                max_attempts=options.push_max_attempts,
            ).start()
            if options.push_url
            else None
        )
        self.app = create_api(
            self.gateway,
            authenticate=authenticator(self.store, bool(options.client_ca)),
            hub_view=hub_view(settings),
        )

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        if self.pusher is not None:
            self.pusher.close()
        self.receiver.close()
        self.connector.close()
        self.store.close()


def serve(settings: Settings, options: GatewayOptions) -> int:
    import uvicorn

    address = options.address
    lock = service_lock(settings.home, f"gateway-{address}", f"a gateway for {address}")
    lock.acquire()
    running = RunningGateway(settings, options)
    tls: dict[str, Any] = {}
    if options.tls_cert:
        tls = {"ssl_certfile": options.tls_cert, "ssl_keyfile": options.tls_key}
        if options.client_ca:
            tls.update(ssl_ca_certs=options.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    scheme = "https" if tls else "http"
    log.info(
        "gateway for %s on %s://%s:%d (docs at /docs)",
        options.address,
        scheme,
        options.host,
        options.port,
    )
    try:
        uvicorn.run(running.app, host=options.host, port=options.port, log_level="warning", **tls)
    finally:
        running.close()
        lock.release()
    return 0
