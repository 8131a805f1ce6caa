"""A directory version offered from the hub.directory topic is taken only when it verifies against
the reader's own anchor and is newer than the one in hand; then the reader's file holds it too."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from hub.trust.directory_file import DirectoryFile, trust_anchor
from hub.trust.keys import SigningKey
from hub.trust.signed import sign_document
from tests.runtime.test_ingress_pipeline import Rig


def reader(rig: Rig, tmp_path: Path) -> DirectoryFile:
    """An agency's copy of the directory, made now, following nothing but what it is offered."""
    copy = tmp_path / "agency-directory.json"
    copy.write_bytes(rig.settings.directory_path.read_bytes())
    return DirectoryFile(copy, trust_anchor(rig.settings))


def test_a_newer_version_is_taken_and_kept_in_the_readers_file(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "hub")
    agency = reader(rig, tmp_path)
    before = agency.current.serial
    current = rig.authority.current()
    rig.authority.publish(replace(current, issued_at="later"), base=current)
    document = rig.settings.directory_path.read_bytes()
    assert agency.offer(document, "hub.directory@1")
    assert agency.current.serial == before + 1
    assert json.loads(agency.path.read_text())["directory"]["serial"] == before + 1
    assert not agency.offer(document, "hub.directory@1")  # the same again changes nothing
    assert agency.refused == 0


def test_an_older_version_from_the_topic_is_passed_over_quietly(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "hub")
    old = rig.settings.directory_path.read_bytes()
    current = rig.authority.current()
    rig.authority.publish(current, base=current)
    agency = reader(rig, tmp_path)
    assert not agency.offer(old, "hub.directory@0")  # history replayed: no attack, no error
    assert agency.refused == 0 and agency.current.serial == current.serial + 1


def test_a_version_not_signed_by_the_directory_key_is_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "hub")
    agency = reader(rig, tmp_path)
    body = rig.authority.current().to_json()
    body["serial"] += 5
    forged = json.dumps(sign_document(body, SigningKey.generate())).encode()
    for bad in (forged, b"not json", b"[]"):
        assert not agency.offer(bad, "hub.directory@9")
    assert agency.refused == 3 and agency.current.serial == body["serial"] - 5
