from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.hubproc import HubProcess, start_hub

#: CI starts PostgreSQL here (user postgres, trust auth); see docs/lifecycle-and-sla.md.
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real ``hub run`` (embedded Tansu broker, dev directory) for the whole session."""
    proc = start_hub(tmp_path_factory.mktemp("hub-home"))
    try:
        yield proc
    finally:
        proc.stop()


#: The gm hub's policy: the packaged one, with corruption clues kept to the gm suite.
GM_ONLY = "  - {family: corruption_clue_handoff, from: ['*'], to: [CDI], require: gm}\n"


@pytest.fixture(scope="session")
def gm_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A second real ``hub run`` whose keys and log are of the gm suite (SM2/SM3/SM4), with a
    policy that keeps corruption clues to gm; started only by the tests that ask for it."""
    from hub.core.paths import PACKAGE_DATA

    home = tmp_path_factory.mktemp("gm-hub-home")
    policy = (PACKAGE_DATA / "policy.yaml").read_text(encoding="utf-8")
    assert "suites: []\n" in policy
    (home / "policy.yaml").write_text(policy.replace("suites: []\n", "suites:\n" + GM_ONLY))
    proc = start_hub(home, extra_env={"HUB_CRYPTO_SUITE": "gm",
                                      "HUB_POLICY_FILE": str(home / "policy.yaml")})  # fmt: skip
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(params=["intl", "gm"])
def suite_hub(request: pytest.FixtureRequest) -> HubProcess:
    """The session's hub of each suite in turn: a test taking it runs under both."""
    return request.getfixturevalue("hub" if request.param == "intl" else "gm_hub")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards.

    Not reachable is a failure, not a skip: the store must be tested on PostgreSQL.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_SERVER} ({exc.orig}); start it (CI does) "
            "with user postgres and trust authentication",
            pytrace=False,
        )
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A store URL on an empty database, once per supported database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    from sqlalchemy import create_engine

    from hub.storage.engine import metadata

    url = request.getfixturevalue("pg_server")
    engine = create_engine(url)
    metadata.drop_all(engine)  # each test starts from empty tables
    engine.dispose()
    yield url


#: Markers are given here, from what a test uses, so they are always consistent:
#: ``broker`` for tests under tests/e2e (a real `hub run` on the embedded Tansu broker),
#: ``postgres`` for tests that use a PostgreSQL database, ``packaging`` for the wheel tests.
#: ``./dev test -m "not broker and not packaging"`` is the quick run.
#: The longest test modules, longest first (the "slowest" lines CI prints): they go to the
#: workers first, so no worker takes one of them last while the others sit idle (a greedy
#: longest-first schedule; --dist loadscope --no-loadscope-reorder hands out modules in this
#: order).
LONGEST_FIRST = (
    "test_gateway_end_to_end.py", "test_demo.py", "test_hosts_drill.py",
    "test_audit_end_to_end.py", "test_console_browser.py", "test_workers.py",
    "test_sla_end_to_end.py", "test_tree_heads_end_to_end.py", "test_alert_rules.py",
    "test_demo_gm.py", "test_timestamps_end_to_end.py", "test_timestamps.py",
    "test_crash_drill.py", "test_redelivery.py", "test_weekly_report_end_to_end.py",
    "test_hsm_keys.py", "test_demo_console.py",
)  # fmt: skip


def _schedule(item: pytest.Item) -> tuple[int, int]:
    name = item.path.name
    if name in LONGEST_FIRST:
        return 0, LONGEST_FIRST.index(name)
    return (1, 0) if "e2e" in item.path.parts else (2, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_schedule)  # stable: each module's tests keep their order
    for item in items:
        parts = item.path.parts
        if "e2e" in parts:
            item.add_marker(pytest.mark.broker)
        if "packaging" in parts:
            item.add_marker(pytest.mark.packaging)
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgresql" in callspec.params.values()
        if fixtures & {"pg_server", "pg_hub"} or on_postgres or "postgres" in item.name:
            item.add_marker(pytest.mark.postgres)
