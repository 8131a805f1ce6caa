from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hubproc import HubProcess, start_hub


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real ``hub run`` (embedded Tansu broker, dev directory) for the whole session."""
    proc = start_hub(tmp_path_factory.mktemp("hub-home"))
    try:
        yield proc
    finally:
        proc.stop()
