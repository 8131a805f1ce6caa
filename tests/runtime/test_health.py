"""Readiness: ready only once the router joined the ingress group and the store answers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from hub.runtime.health import Readiness, store_answers


def test_ready_needs_the_router_joined_and_the_store_answering(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    router = SimpleNamespace(joined=False, partitions=0)
    good = store_answers(create_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    readiness = Readiness(router, good)
    assert asyncio.run(readiness.check())["ready"] is False
    router.joined, router.partitions = True, 6
    with caplog.at_level(logging.INFO, "hub.run"):
        asyncio.run(readiness.announce(6))
    state = asyncio.run(readiness.check())
    assert state == {
        "ready": True,
        "router_joined": True,
        "ingress_partitions": 6,
        "store": "answers",
    }
    assert "ready: routing with 6 ingress partitions" in caplog.text
    broken = store_answers(create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    assert asyncio.run(Readiness(router, broken).check())["ready"] is False
