"""Kafka security settings in the form aiokafka wants them."""

from __future__ import annotations

import ssl
from typing import Any

from hub.core.config import Settings


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Security keyword arguments for aiokafka's consumer and producer."""
    protocol = settings.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": protocol}
    if protocol in {"SSL", "SASL_SSL"}:
        out["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL"):
        out["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        out["sasl_plain_username"] = settings.kafka_sasl_username
        out["sasl_plain_password"] = settings.kafka_sasl_password
    return out


def ssl_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    return ctx
