"""Fixtures of the ingress tests: a pipeline rig on a temporary home, and backoff without waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.test_ingress_pipeline import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


@pytest.fixture
def no_wait(rig: Rig) -> list[float]:
    """Backoff sleeps are recorded instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    rig.pipeline.sleep = sleep
    return slept
