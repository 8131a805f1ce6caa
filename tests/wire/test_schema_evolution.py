"""The compatibility proof: every published schema version and the current one read each other.

For each ``schemas/avro/<stem>.v<N>.avsc`` and the newest version of the same stem:

* backward: records generated from vN, written with vN, are readable with the current reader;
* forward: records generated from the current version, written with it, are readable with vN.

Readability is checked by fastavro's schema resolution alone (not by hub code), so a schema
change that breaks old consumers or old data fails here, naming the stem and version.
"""

from __future__ import annotations

import copy
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "avro"
_FILE = re.compile(r"^(?P<stem>[a-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")
RECORDS = 30


def _catalogue() -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(SCHEMAS.glob("*.avsc")):
        m = _FILE.match(path.name)
        assert m, f"{path.name} is not named <stem>.v<N>.avsc"
        raw = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(m["stem"], {})[int(m["version"])] = raw
    return out


CATALOGUE = _catalogue()
PAIRS = [(stem, v) for stem, versions in sorted(CATALOGUE.items()) for v in sorted(versions)]


def parsed(raw: dict[str, Any]) -> dict[str, Any]:
    return parse_schema(copy.deepcopy(raw), named_schemas={})


def write_all(schema: dict[str, Any], records: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for record in records:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, record)
        out.append(buf.getvalue())
    return out


def read(data: bytes, writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    stream = io.BytesIO(data)
    record = schemaless_reader(stream, writer, reader)
    assert stream.tell() == len(data), "the reader did not consume the whole body"
    return record


def check_readable(writer_raw: dict[str, Any], reader_raw: dict[str, Any], seed: str) -> None:
    """Generate records of ``writer_raw``, write them, read them back through ``reader_raw``."""
    writer, reader = parsed(writer_raw), parsed(reader_raw)
    random.seed(seed)  # generate_many draws from the module RNG: make failures reproducible
    records = list(generate_many(writer, RECORDS))
    assert len(records) == RECORDS
    writer_fields = {f["name"]: f for f in writer_raw["fields"]}
    for i, data in enumerate(write_all(writer, records)):
        as_written = read(data, writer, writer)
        resolved = read(data, writer, reader)
        assert set(resolved) == {f["name"] for f in reader_raw["fields"]}, i
        for field in reader_raw["fields"]:
            name = field["name"]
            if name not in writer_fields:
                assert resolved[name] == field["default"], (i, name)
            elif json.dumps(writer_fields[name]["type"], sort_keys=True) == json.dumps(
                field["type"], sort_keys=True
            ):
                assert resolved[name] == as_written[name], (i, name)


@pytest.mark.parametrize(("stem", "version"), PAIRS, ids=[f"{s}.v{v}" for s, v in PAIRS])
def test_old_data_is_readable_with_the_current_schema(stem: str, version: int) -> None:
    current = max(CATALOGUE[stem])
    check_readable(CATALOGUE[stem][version], CATALOGUE[stem][current], f"bw:{stem}.v{version}")


@pytest.mark.parametrize(("stem", "version"), PAIRS, ids=[f"{s}.v{v}" for s, v in PAIRS])
def test_current_data_is_readable_with_the_old_schema(stem: str, version: int) -> None:
    current = max(CATALOGUE[stem])
    check_readable(CATALOGUE[stem][current], CATALOGUE[stem][version], f"fw:{stem}.v{version}")


def test_the_mechanism_is_exercised_by_a_stem_with_several_versions() -> None:
    evolved = {stem: sorted(vs) for stem, vs in CATALOGUE.items() if len(vs) >= 2}
    assert evolved, "no schema has a second version, so the proof above compares nothing"
    assert "clue_transfer" in evolved
    for stem, numbers in evolved.items():
        assert numbers == list(range(1, len(numbers) + 1)), stem
        names = {(r.get("namespace"), r["name"]) for r in CATALOGUE[stem].values()}
        assert len(names) == 1, f"versions of {stem} disagree on the record name"
    assert sum(len(vs) - 1 for vs in evolved.values()) == len(PAIRS) - len(CATALOGUE)


# -- the check catches an incompatible change ------------------------------------------------


def _with_extra_field(raw: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed["fields"].append(field)
    return changed


def test_a_new_field_without_default_breaks_backward_compatibility() -> None:
    v1 = CATALOGUE["clue_transfer"][1]
    bad_v2 = _with_extra_field(v1, {"name": "priority", "type": "int"})
    with pytest.raises(SchemaResolutionError, match="No default value for field priority"):
        check_readable(v1, bad_v2, "negative:no-default")


def test_the_same_field_with_a_default_is_compatible_both_ways() -> None:
    v1 = CATALOGUE["clue_transfer"][1]
    good_v2 = _with_extra_field(v1, {"name": "priority", "type": "int", "default": 0})
    check_readable(v1, good_v2, "positive:backward")
    check_readable(good_v2, v1, "positive:forward")


def test_a_new_enum_symbol_without_default_breaks_forward_compatibility() -> None:
    v1 = CATALOGUE["case_referral"][1]
    v2 = copy.deepcopy(v1)
    stage = next(f for f in v2["fields"] if f["name"] == "stage")
    stage["type"]["symbols"] = ["COURT_TO_PROC"]  # writers of v2 can only produce the new symbol
    check_readable(v1, v1, "control")
    with pytest.raises(SchemaResolutionError, match="COURT_TO_PROC not found"):
        check_readable(v2, v1, "negative:enum")
