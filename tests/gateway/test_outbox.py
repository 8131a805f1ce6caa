"""An agency's own database as its door to the hub, on PostgreSQL and on MariaDB: outbox rows
go out in insertion order, exactly one message each across restarts; a bad row is refused with
its reason and the rest go on; what arrives is written to the inbox table once.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from connectors.gateway.outbox import (
    DatabaseInbox,
    OutboxRelay,
    agency_engine,
    create_tables,
    documents,
    inbox,
    message_id_for,
    outbox,
    sent,
)
from connectors.gateway.outbox_documents import NOT_IN_FOLDER
from connectors.messages import open_record
from hub.runtime.ingress.pipeline import DELIVERED, DUPLICATE
from hub.wire.envelope import read_envelope
from tests.databases import agency_database
from tests.gateway.test_gateway_api import Side
from tests.hubproc import load_example
from tests.runtime.test_ingress_pipeline import Rig


@pytest.fixture(params=["postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with agency_database(request.param) as url:
        eng = agency_engine(url)
        create_tables(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def mib(tmp_path: Path) -> Side:
    return Side(Rig(tmp_path / "hub"), "MIB@350582", tmp_path)


def add_row(
    engine: Engine, *, payload: Any = None, family: str = "clue_transfer", row_id: str | None = None
) -> str:
    row_id = row_id or str(uuid.uuid4())
    body = payload if payload is not None else load_example("clue_transfer")
    with engine.begin() as conn:
        conn.execute(
            insert(outbox).values(
                id=row_id,
                aggregatetype="clue",
                aggregateid=body.get("clue_id", "x") if isinstance(body, dict) else "x",
                type="ClueTransferred",
                payload=body if isinstance(body, str) else json.dumps(body, ensure_ascii=False),
                family=family,
                recipient="PSB@350582",
            )
        )
    return row_id


def states(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.id: r.state for r in conn.execute(select(sent.c.id, sent.c.state))}


def test_rows_go_out_in_insertion_order_one_message_each(engine: Engine, mib: Side) -> None:
    ids = [add_row(engine) for _ in range(5)]
    relay = OutboxRelay(engine, mib.connector, batch=2)
    while relay.run_once().sent:
        pass
    sent_ids = [mib.rig.handle(mib.rig.record(raw)).message_id for raw in mib.sent]
    assert sent_ids == [message_id_for(i) for i in ids]
    assert all(mib.rig.delivered(message_id_for(i)) for i in ids)
    assert set(states(engine).values()) == {"sent"}
    assert relay.run_once().sent == 0  # nothing twice


def test_a_relay_that_stopped_before_confirming_sends_the_same_bytes_again(
    engine: Engine, mib: Side
) -> None:
    first = add_row(engine)
    mib.broker_away = True  # sealed and kept, then the broker refused it
    OutboxRelay(engine, mib.connector).run_once()
    assert states(engine) == {first: "sealed"}
    mib.broker_away = False
    mib.sent.clear()
    mib.connector.send_raw = lambda raw, **kw: mib.sent.append(raw)  # type: ignore[method-assign]
    again = OutboxRelay(engine, mib.connector)  # a new relay, as after a restart
    assert again.run_once().sent == 1
    assert mib.route_last().kind == DELIVERED
    # Had the first copy got through after all, this one is recognised as its repeat.
    with engine.connect() as conn:
        raw = conn.execute(select(sent.c.raw)).scalar_one()
    assert bytes(raw) == mib.sent[-1]
    assert mib.rig.handle(mib.rig.record(bytes(raw))).kind == DUPLICATE


def test_a_row_that_cannot_be_sent_is_refused_with_its_reason_and_the_rest_go_on(
    engine: Engine, mib: Side
) -> None:
    bad = load_example("clue_transfer")
    del bad["category"]
    refused = add_row(engine, payload=bad)
    unknown = add_row(engine, family="no_such_family")
    not_json = add_row(engine, payload="{not json")
    good = add_row(engine)
    result = OutboxRelay(engine, mib.connector).run_once()
    assert (result.sent, result.refused) == (1, 3)
    assert states(engine) == {
        refused: "refused",
        unknown: "refused",
        not_json: "refused",
        good: "sent",
    }
    with engine.connect() as conn:
        why = conn.execute(select(sent.c.problems).where(sent.c.id == refused)).scalar_one()
    assert {"pointer": "/payload/category", "detail": "is required"} in json.loads(why)


def test_only_one_relay_holds_the_outbox(engine: Engine, mib: Side) -> None:
    add_row(engine)
    first, second = OutboxRelay(engine, mib.connector), OutboxRelay(engine, mib.connector)
    assert first.acquire()
    assert not second.acquire()
    assert second.run_once().sent == 0  # waits its turn
    first.release()
    assert second.run_once().sent == 1
    second.release()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_relays_of_two_databases_on_one_server_do_not_shut_each_other_out(
    kind: str, mib: Side
) -> None:
    """MariaDB's lock names are the server's, not a database's: the database is in the key."""
    with agency_database(kind) as one, agency_database(kind) as other:
        engines = [agency_engine(one), agency_engine(other)]
        relays = [OutboxRelay(e, mib.connector) for e in engines]
        try:
            assert all(r.acquire() for r in relays)
        finally:
            for r, e in zip(relays, engines, strict=True):
                r.release()
                e.dispose()


def test_what_arrives_is_written_to_the_inbox_table_once(engine: Engine, mib: Side) -> None:
    mib.post(
        "/v1/messages",
        {"family": "clue_transfer", "to": "PSB@350582", "payload": load_example("clue_transfer")},
        key="k",
    )
    mib.route_last()
    [record] = mib.rig.producer.on("hub.inbox.PSB.350582")
    from hub.trust.address import Address

    msg = open_record(
        mib.rig.services.registry,
        mib.rig.services.directory.current,
        record,
        me=Address.parse("PSB@350582"),
    )
    writer = DatabaseInbox(engine)
    assert writer.write(msg) and not writer.write(msg)
    with engine.connect() as conn:
        [row] = conn.execute(select(inbox)).mappings().all()
    assert row["family"] == "clue_transfer" and row["sender"] == "MIB@350582"
    assert (
        json.loads(row["payload"])["subject"]["name"]
        == load_example("clue_transfer")["subject"]["name"]
    )


def add_document(
    engine: Engine, row_id: str, n: int, *, path: Path | None = None, content: bytes | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(insert(documents).values(
            outbox_id=row_id, n=n, name=f"证据{n}.pdf", media_type="application/pdf",
            path=None if path is None else str(path), content=content,
        ))  # fmt: skip


def test_a_row_with_documents_by_path_and_by_content_sends_them_ahead_of_itself(
    engine: Engine, mib: Side, tmp_path: Path
) -> None:
    from tests.gateway.test_gateway_documents import Producer

    mib.connector._producer = Producer()  # type: ignore[assignment]
    on_disk = tmp_path / "scan.pdf"
    on_disk.write_bytes(b"%PDF-1.7\n" + os.urandom(700_000))
    stored = b"%PDF-1.4\n" + os.urandom(1_200_000)  # read out of the database in slices
    row = add_row(engine)
    add_document(engine, row, 1, path=on_disk)
    add_document(engine, row, 2, content=stored)
    relay = OutboxRelay(engine, mib.connector, work_dir=tmp_path / "work", documents_dir=tmp_path)
    assert relay.run_once().sent == 1
    chunks = mib.connector._producer.values  # type: ignore[union-attr]
    assert len(chunks) == 2 + 3
    for raw in chunks:
        mib.rig.handle(mib.rig.record(raw))
    assert mib.route_last().kind == DELIVERED
    env = read_envelope(mib.rig.services.registry, mib.sent[-1])
    assert [d.n for d in env.documents] == [1, 2]
    assert list((tmp_path / "work").iterdir()) == []  # the copy out of the database is gone


def test_a_row_naming_no_readable_document_is_refused_and_the_next_goes_on(
    engine: Engine, mib: Side, tmp_path: Path
) -> None:
    bad = add_row(engine)
    add_document(engine, bad, 1, path=tmp_path / "missing.pdf")
    good = add_row(engine)
    result = OutboxRelay(engine, mib.connector, work_dir=tmp_path / "work",
                         documents_dir=tmp_path).run_once()  # fmt: skip
    assert (result.sent, result.refused) == (1, 1)
    assert states(engine) == {bad: "refused", good: "sent"}
    with engine.connect() as conn:
        problems = conn.execute(select(sent.c.problems).where(sent.c.id == bad)).scalar()
    assert json.loads(problems) == [{"pointer": "/documents/0/path", "detail": NOT_IN_FOLDER}]


def test_a_row_naming_a_file_outside_the_documents_folder_is_refused_alike_and_nothing_is_read(
    engine: Engine, mib: Side, tmp_path: Path
) -> None:
    """An application's row is not trusted with the relay's disk: /etc/passwd, the agency's own
    private key, a ``..`` way out, a link planted in the folder, a FIFO, a missing file — each
    is refused with one and the same reason, and no chunk of any of them is published."""
    from tests.gateway.test_gateway_documents import Producer

    mib.connector._producer = Producer()  # type: ignore[assignment]
    folder = tmp_path / "shared"
    folder.mkdir()
    secret = tmp_path / "hub" / "keys" / "MIB@350582.pem"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"%PDF-1.7\n-----BEGIN PRIVATE KEY-----\n")
    (folder / "link.pdf").symlink_to(secret)
    (folder / "sub").mkdir()
    (folder / "sub" / "ok.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(1000))
    (folder / "via").symlink_to(tmp_path / "hub" / "keys", target_is_directory=True)
    os.mkfifo(folder / "pipe.pdf")
    hostile = ["/etc/passwd", str(secret), "../hub/keys/MIB@350582.pem", "link.pdf",
               "via/MIB@350582.pem", "pipe.pdf", "missing.pdf", f"{folder}/../x.pdf"]  # fmt: skip
    rows = []
    for path in hostile:
        rows.append(add_row(engine))
        add_document(engine, rows[-1], 1, path=Path(path))
    good = add_row(engine)
    add_document(engine, good, 1, path=Path("sub/ok.pdf"))
    relay = OutboxRelay(engine, mib.connector, work_dir=tmp_path / "work", documents_dir=folder)
    result = relay.run_once()
    assert (result.sent, result.refused) == (1, len(hostile))
    with engine.connect() as conn:
        problems = {r.id: r.problems for r in conn.execute(select(sent.c.id, sent.c.problems))}
    details = [json.loads(problems[r]) for r in rows]
    assert details == [[{"pointer": "/documents/0/path", "detail": NOT_IN_FOLDER}]] * len(rows)
    published = b"".join(mib.connector._producer.values)  # type: ignore[union-attr]
    assert b"PRIVATE KEY" not in published and b"root:" not in published
    assert len(mib.connector._producer.values) == 1  # type: ignore[union-attr]  # good: a chunk


def test_without_a_documents_folder_no_path_is_read_at_all(
    engine: Engine, mib: Side, tmp_path: Path
) -> None:
    on_disk = tmp_path / "scan.pdf"
    on_disk.write_bytes(b"%PDF-1.7\n")
    row = add_row(engine)
    add_document(engine, row, 1, path=on_disk)
    result = OutboxRelay(engine, mib.connector, work_dir=tmp_path / "work").run_once()
    assert (result.sent, result.refused) == (0, 1)
