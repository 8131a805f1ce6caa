"""The Avro contract on disk: every ``schemas/avro/<stem>.v<N>.avsc``, by name and fingerprint.

Every published version stays in the directory forever; a writer's fingerprint on the wire picks
the writer schema and the newest version of the same name is the default reader schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from hub.core.errors import ConfigError

_FILE = re.compile(r"^(?P<stem>[a-z0-9_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


class SchemaError(ConfigError):
    """A schema file is malformed, misnamed or inconsistent with its siblings."""


@dataclass(frozen=True)
class SchemaVersion:
    stem: str  # file stem, e.g. "clue_transfer"
    version: int
    name: str  # Avro full name, e.g. "medfund.hub.ClueTransfer"
    path: Path
    raw: dict[str, Any]

    @cached_property
    def parsed(self) -> dict[str, Any]:
        parsed = parse_schema(self.raw, named_schemas={})
        assert isinstance(parsed, dict), f"{self.path}: a schema file holds one named type"
        return parsed

    @cached_property
    def canonical(self) -> str:
        return to_parsing_canonical_form(self.parsed)

    @cached_property
    def fingerprint(self) -> bytes:
        """CRC-64-AVRO of the parsing canonical form, 8 bytes little-endian (as on the wire)."""
        return bytes.fromhex(fingerprint(self.canonical, "CRC-64-AVRO"))

    @property
    def label(self) -> str:
        return f"{self.stem}.v{self.version}"


class SchemaRegistry:
    """An immutable index of schema versions loaded from one directory."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fp: dict[bytes, SchemaVersion] = {}
        self._by_stem: dict[str, list[SchemaVersion]] = {}
        for v in sorted(versions, key=lambda v: (v.stem, v.version)):
            clash = self._by_fp.get(v.fingerprint)
            if clash is not None:
                raise SchemaError(f"{v.path.name} is identical to {clash.path.name}")
            self._by_fp[v.fingerprint] = v
            self._by_stem.setdefault(v.stem, []).append(v)
        for stem, vs in self._by_stem.items():
            names = {v.name for v in vs}
            if len(names) != 1:
                raise SchemaError(
                    f"versions of {stem} disagree on the record name: {sorted(names)}"
                )
            numbers = [v.version for v in vs]
            if numbers != list(range(1, len(vs) + 1)):
                raise SchemaError(f"versions of {stem} must be 1..N without gaps, found {numbers}")

    @classmethod
    def load(cls, directory: str | Path) -> SchemaRegistry:
        directory = Path(directory)
        if not directory.is_dir():
            raise SchemaError(f"schema directory {directory} does not exist")
        versions = []
        for path in sorted(directory.glob("*.avsc")):
            m = _FILE.match(path.name)
            if not m:
                raise SchemaError(f"{path.name}: schema files are named <stem>.v<N>.avsc")
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{path}: {exc}") from exc
            name = raw.get("name", "")
            full = name if "." in name else f"{raw.get('namespace', '')}.{name}".lstrip(".")
            v = SchemaVersion(m["stem"], int(m["version"]), full, path, raw)
            try:
                v.parsed  # noqa: B018 - parse now so a bad file fails at load, naming itself
            except Exception as exc:
                raise SchemaError(f"{path}: {exc}") from exc
            versions.append(v)
        if not versions:
            raise SchemaError(f"no .avsc files in {directory}")
        return cls(versions)

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fp.get(fp)

    def latest(self, stem: str) -> SchemaVersion:
        try:
            return self._by_stem[stem][-1]
        except KeyError:
            raise SchemaError(f"no schema named {stem}") from None

    def version(self, stem: str, version: int) -> SchemaVersion:
        for v in self._by_stem.get(stem, []):
            if v.version == version:
                return v
        raise SchemaError(f"no schema {stem}.v{version}")

    def versions(self, stem: str) -> list[SchemaVersion]:
        return list(self._by_stem.get(stem, []))

    def stems(self) -> list[str]:
        return sorted(self._by_stem)

    def __iter__(self):
        for stem in self.stems():
            yield from self._by_stem[stem]
