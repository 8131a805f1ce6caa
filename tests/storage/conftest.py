"""A hub store on SQLite and on PostgreSQL for every test that asks for ``store``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.storage.store import Store
from tests.databases import database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database(request.param, tmp_path) as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.close()
