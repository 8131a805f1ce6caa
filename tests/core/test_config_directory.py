"""Settings (hub.core.config), the directory and key files (hub.trust.directory), JSON payloads."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hub.core.config import EMBEDDED_SESSION, ConfigError, Settings, load_settings
from hub.trust.address import Address
from hub.trust.authority import DirectoryAuthority, create_key, init_directory_key
from hub.trust.directory import Directory, DirectoryError, load_signing_key, private_key_path
from hub.trust.directory_file import DirectoryFile
from hub.trust.keys import SigningKey
from hub.trust.rotation import rotate_keys
from hub.trust.signed import TrustAnchor, sign_document
from hub.wire import codec
from hub.wire.jsonpayload import PayloadError, from_json, to_json
from hub.wire.schemas import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "examples" / "payloads"
MIB = Address("MIB", "350582")
PSB = Address("PSB", "350582")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HUB_* variable from the outside, and no hub.toml but the test's own."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_toml(directory: Path, text: str, name: str = "hub.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# -- settings ------------------------------------------------------------------------------------


def test_defaults_without_file_or_environment(clean_env: Path) -> None:
    s = load_settings()
    assert s == replace(Settings(), **EMBEDDED_SESSION)  # no broker named: the embedded one
    assert s.home == Path(".hub")
    assert s.fetch_max_wait_ms == 100
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.embedded
    assert s.directory_path == Path(".hub") / "directory.json"


def test_precedence_defaults_file_environment_overrides(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(
        clean_env,
        '[hub]\napp_id = "from-file"\nweb_port = 1000\nlog_level = "debug"\n'
        'kafka_bootstrap = "file:9092"\n',
    )
    monkeypatch.setenv("HUB_WEB_PORT", "2000")
    monkeypatch.setenv("HUB_APP_ID", "from-env")
    monkeypatch.setenv("HUB_SESSION_TIMEOUT_S", "2.5")
    s = load_settings(app_id="from-kwargs", kafka_bootstrap=None)
    assert s.app_id == "from-kwargs"  # overrides beat the environment
    assert s.web_port == 2000  # the environment beats the file, coerced to int
    assert s.session_timeout_s == 2.5  # the environment beats the default, coerced to float
    assert s.log_level == "debug"  # the file beats the default
    assert s.kafka_bootstrap == "file:9092"  # a None override does not hide the file
    assert not s.embedded
    assert s.fetch_max_wait_ms == 100  # untouched default


def test_the_embedded_broker_gets_short_group_timeouts_unless_they_are_set(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tansu holds a join for about half the session timeout: short on the embedded broker.
    embedded = load_settings()
    assert embedded.embedded
    assert (embedded.session_timeout_s, embedded.heartbeat_interval_s) == (4.0, 1.0)
    # Kafka refuses less than 6 s (group.min.session.timeout.ms): its default stays.
    cluster = load_settings(kafka_bootstrap="kafka-1:9092")
    assert (cluster.session_timeout_s, cluster.heartbeat_interval_s) == (6.0, 1.0)
    monkeypatch.setenv("HUB_SESSION_TIMEOUT_S", "10")
    chosen = load_settings()
    assert (chosen.session_timeout_s, chosen.heartbeat_interval_s) == (10.0, 1.0)


def test_each_layer_alone_beats_the_default(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(clean_env, '[hub]\nhome = "file-home"\n')
    assert load_settings().home == Path("file-home")
    monkeypatch.setenv("HUB_HOME", "env-home")
    assert load_settings().home == Path("env-home")
    assert load_settings(home="kw-home").home == Path("kw-home")


def test_other_tables_of_the_file_are_ignored(clean_env: Path) -> None:
    write_toml(clean_env, "[connector]\nwhatever = 1\n\n[hub]\nweb_port = 7\n")
    assert load_settings().web_port == 7


def test_hub_config_names_another_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(clean_env, "[hub]\nweb_port = 1\n")
    other = write_toml(clean_env, "[hub]\nweb_port = 2\n", "other.toml")
    monkeypatch.setenv("HUB_CONFIG", str(other))
    assert load_settings().web_port == 2
    assert load_settings(config_file=clean_env / "hub.toml").web_port == 1


def test_a_named_config_file_must_exist(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=clean_env / "missing.toml")
    monkeypatch.setenv("HUB_CONFIG", str(clean_env / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_unknown_key_in_the_file(clean_env: Path) -> None:
    write_toml(clean_env, '[hub]\nweb_port = 1\nbootstrap_servers = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) bootstrap_servers"):
        load_settings()


def test_invalid_toml(clean_env: Path) -> None:
    write_toml(clean_env, "[hub\nweb_port = 1\n")
    with pytest.raises(ConfigError, match=r"hub\.toml"):
        load_settings()


@pytest.mark.parametrize(
    ("source", "name", "value"),
    [
        ("env", "HUB_WEB_PORT", "eighty"),
        ("env", "HUB_FETCH_MAX_WAIT_MS", "1.5"),
        ("env", "HUB_SESSION_TIMEOUT_S", "soon"),
        ("file", "web_port", '"eighty"'),
    ],
)
def test_values_of_the_wrong_type(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, source: str, name: str, value: str
) -> None:
    if source == "env":
        monkeypatch.setenv(name, value)
    else:
        write_toml(clean_env, f"[hub]\n{name} = {value}\n")
    setting = name.removeprefix("HUB_").lower()
    with pytest.raises(ConfigError, match=f"setting {setting}"):
        load_settings()


def test_bad_int_override(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid int"):
        load_settings(web_port="abc")


@pytest.mark.parametrize("protocol", ["TLS", "plaintext", "SASL", ""])
def test_bad_security_protocol(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setenv("HUB_KAFKA_SECURITY_PROTOCOL", protocol)
    with pytest.raises(ConfigError, match="kafka_security_protocol must be one of"):
        load_settings()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_good_security_protocols(clean_env: Path, protocol: str) -> None:
    assert load_settings(kafka_security_protocol=protocol).kafka_security_protocol == protocol


def test_negative_fetch_wait(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match="fetch_max_wait_ms"):
        load_settings(fetch_max_wait_ms=-1)


# -- directory and keys --------------------------------------------------------------------------


@pytest.fixture
def authority(tmp_path: Path) -> DirectoryAuthority:
    key = init_directory_key(tmp_path / "keys" / "directory.pem", tmp_path / "anchor.json")
    return DirectoryAuthority(
        tmp_path / "directory.json", TrustAnchor.load(tmp_path / "anchor.json"), key
    )


def signed(d: Directory, path: Path, authority: DirectoryAuthority, serial: int = 1) -> None:
    replace(d, serial=serial).write_signed(path, authority.key)


def test_create_key_writes_a_private_pem_and_registers_the_public_half(
    authority: DirectoryAuthority, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    key = create_key(authority, keys_dir, MIB, name="晋江市医保局")
    pem = private_key_path(keys_dir, MIB, key.key_id)
    assert pem == keys_dir / "MIB@350582" / (key.key_id.replace(":", "-") + ".pem")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert SigningKey.load(pem).key_id == key.key_id

    directory = Directory.load(authority.path, authority.anchor)
    assert directory.has(MIB)
    assert directory.connectors[MIB].name == "晋江市医保局"
    owner = directory.key_owner(key.key_id)
    assert owner is not None
    address, entry = owner
    assert address == MIB
    assert entry.public_key == key.public_b64
    assert entry.status == "active"
    assert b"PRIVATE" not in authority.path.read_bytes()
    assert key.public_b64.encode() in authority.path.read_bytes()


def test_create_key_rejects_an_unknown_agency(
    authority: DirectoryAuthority, tmp_path: Path
) -> None:
    with pytest.raises(DirectoryError, match="unknown agency"):
        create_key(authority, tmp_path / "agency-keys", Address("NOPE", "350582"))
    assert not authority.path.exists()
    assert not (tmp_path / "agency-keys").exists()


def test_directory_sign_load_round_trip(authority: DirectoryAuthority, tmp_path: Path) -> None:
    k1, k2, k3 = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    d = Directory().with_key(MIB, k1, "医保").with_key(MIB, k2).with_key(PSB, k3, "公安")
    path = tmp_path / "sub" / "directory.json"
    signed(d, path, authority, serial=7)
    loaded = Directory.load(path, authority.anchor)
    assert loaded == replace(d, serial=7)
    assert loaded.to_json() == replace(d, serial=7).to_json()
    assert loaded.addresses() == [MIB, PSB]
    assert [k.key_id for k in loaded.connectors[MIB].keys] == [k1.key_id, k2.key_id]
    assert loaded.connectors[MIB].name == "医保"
    assert "医保" in path.read_text(encoding="utf-8")  # kept readable, not \u-escaped
    for key, owner in ((k1, MIB), (k2, MIB), (k3, PSB)):
        found = loaded.key_owner(key.key_id)
        assert found is not None and found[0] == owner
        public = loaded.public_key(key.key_id)
        assert public is not None
        public.verify(key.sign(b"x"), b"x")  # raises if the stored key is not the signer's
    assert loaded.public_key("ed25519:unknown") is None
    assert [p.name for p in path.parent.iterdir()] == ["directory.json"]  # no temp file left


def test_missing_directory_file_is_an_empty_directory(authority: DirectoryAuthority) -> None:
    assert Directory.load(authority.path, authority.anchor) == Directory()


def directory_json(*addresses: str) -> dict[str, Any]:
    return {"serial": 1, "connectors": [{"address": a, "keys": []} for a in addresses]}


@pytest.mark.parametrize(
    "addresses", [("MIB@350582", "MIB@350582"), ("MIB@350582", "PSB@350582", "mib@350582")]
)
def test_duplicate_address_in_the_file(
    authority: DirectoryAuthority, addresses: tuple[str, ...]
) -> None:
    write_body(authority, directory_json(*addresses))
    with pytest.raises(DirectoryError, match="MIB@350582 is listed twice"):
        Directory.load(authority.path, authority.anchor)


def write_body(authority: DirectoryAuthority, body: dict[str, Any]) -> None:
    authority.path.write_text(json.dumps(sign_document(body, authority.key)), encoding="utf-8")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (directory_json("MIB350582"), "connector #1"),
        (directory_json("MIB@350582", "NOPE@350582"), "connector #2: unknown agency"),
        (directory_json("MIB@3505"), "connector #1: region"),
        (
            {"serial": 1, "connectors": [{"address": "MIB@350582", "keys": [{"x": 1}]}]},
            "connector #1",
        ),
        ({"serial": -1, "connectors": []}, "serial"),
        ({"serial": 1, "connectors": 7}, "must be a list"),
    ],
)
def test_bad_directory_files(
    authority: DirectoryAuthority, data: dict[str, Any], fragment: str
) -> None:
    write_body(authority, data)
    with pytest.raises(DirectoryError, match=fragment):
        Directory.load(authority.path, authority.anchor)


def test_unparseable_directory_file(authority: DirectoryAuthority) -> None:
    authority.path.write_text("{", encoding="utf-8")
    with pytest.raises(DirectoryError, match=r"directory\.json"):
        Directory.load(authority.path, authority.anchor)


def bump_mtime(path: Path, seconds: int) -> None:
    """Give the file a distinct modification time whatever the file-system's clock granularity."""
    ns = path.stat().st_mtime_ns + seconds * 1_000_000_000
    os.utime(path, ns=(ns, ns))


def test_directory_file_reloads_after_the_file_changes(authority: DirectoryAuthority) -> None:
    path = authority.path
    signed(Directory().with_key(MIB, SigningKey.generate()), path, authority, 1)
    df = DirectoryFile(path, authority.anchor, check_every_s=1.0)
    assert df.refresh(force=True, now=1000.0).addresses() == [MIB]

    two = Directory().with_key(MIB, SigningKey.generate()).with_key(PSB, SigningKey.generate())
    signed(two, path, authority, 2)
    bump_mtime(path, 10)
    assert df.refresh(now=1000.5).addresses() == [MIB]  # throttled: not looked at yet
    assert df.refresh(now=1001.5).addresses() == [MIB, PSB]  # looked at: reloaded

    before = df.refresh(now=1003.0)
    assert df.refresh(now=1005.0) is before  # unchanged file: the same object, no re-read


def test_directory_file_keeps_the_previous_directory_when_the_new_file_is_bad(
    authority: DirectoryAuthority,
) -> None:
    path = authority.path
    signed(Directory().with_key(MIB, SigningKey.generate()), path, authority, 1)
    df = DirectoryFile(path, authority.anchor)
    good = df.refresh(force=True, now=1000.0)
    path.write_text("{ not json", encoding="utf-8")
    bump_mtime(path, 10)
    assert df.refresh(now=1002.0) is good
    signed(Directory().with_key(PSB, SigningKey.generate()), path, authority, 2)
    bump_mtime(path, 20)
    assert df.refresh(now=1004.0).addresses() == [PSB]


def test_directory_file_starts_empty_and_picks_up_a_new_file(
    authority: DirectoryAuthority,
) -> None:
    df = DirectoryFile(authority.path, authority.anchor)
    assert df.refresh(force=True, now=1000.0).addresses() == []
    signed(Directory().with_key(MIB, SigningKey.generate()), authority.path, authority)
    assert df.refresh(now=1002.0).addresses() == [MIB]


def rotate(authority: DirectoryAuthority, keys_dir: Path, address: Address) -> SigningKey:
    [new_id, _] = rotate_keys(authority, keys_dir, address, signing=True, encryption=True)
    return SigningKey.load(private_key_path(keys_dir, address, new_id))


def test_load_signing_key_picks_the_newest_active_key(
    authority: DirectoryAuthority, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    first = create_key(authority, keys_dir, MIB)
    second = rotate(authority, keys_dir, MIB)
    create_key(authority, keys_dir, PSB)
    directory = authority.current()
    assert load_signing_key(keys_dir, MIB, directory).key_id == second.key_id
    assert [k.key_id for k in directory.connectors[MIB].keys] == [first.key_id, second.key_id]
    # Were the new key revoked and the old one still active, the old one signs again.
    conn = directory.connectors[MIB]
    keys = (replace(conn.keys[0], status="active"), replace(conn.keys[1], status="revoked"))
    back = directory.with_connector(replace(conn, keys=keys))
    assert load_signing_key(keys_dir, MIB, back).key_id == first.key_id


def test_load_signing_key_skips_keys_whose_private_half_is_not_here(
    authority: DirectoryAuthority, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    first = create_key(authority, keys_dir, MIB)
    second = rotate(authority, keys_dir, MIB)
    directory = authority.current()
    conn = directory.connectors[MIB]
    both_active = directory.with_connector(
        replace(conn, keys=tuple(replace(k, status="active") for k in conn.keys))
    )
    private_key_path(keys_dir, MIB, second.key_id).unlink()
    assert load_signing_key(keys_dir, MIB, both_active).key_id == first.key_id
    private_key_path(keys_dir, MIB, first.key_id).unlink()
    with pytest.raises(DirectoryError, match="no private key of MIB@350582"):
        load_signing_key(keys_dir, MIB, both_active)


def test_load_signing_key_of_an_unregistered_connector(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="hub keys new PSB@350582"):
        load_signing_key(tmp_path, PSB, Directory().with_key(MIB, SigningKey.generate()))


# -- JSON payloads -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(ROOT / "schemas" / "avro")


def example(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


def test_from_json_converts_dates(registry: SchemaRegistry) -> None:
    schema = registry.latest("invoice_verification_request")
    payload = from_json(schema.raw, example("invoice_verification_request"))
    assert payload["issue_date"] == date(2024, 5, 20)
    assert payload["payer_id_number"] == "350582197503152019"


def test_no_example_asks_for_a_deadline_already_past() -> None:
    """A newcomer's first `hub send` of an example must not breach at once."""
    for path in sorted(PAYLOADS.glob("*.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if "deadline" in key and value is not None:
                assert date.fromisoformat(value) > date.today(), (path.name, key, value)


def test_from_json_converts_dates_inside_unions(registry: SchemaRegistry) -> None:
    data = {**example("clue_transfer"), "requested_deadline": "2024-07-31"}
    payload = from_json(registry.latest("clue_transfer").raw, data)
    assert payload["requested_deadline"] == date(2024, 7, 31)
    assert payload["batch"]["source"] == "NATIONAL_BUREAU"
    data = {**example("clue_transfer"), "requested_deadline": None}
    assert from_json(registry.latest("clue_transfer").raw, data)["requested_deadline"] is None


def test_from_json_converts_timestamps(registry: SchemaRegistry) -> None:
    raw = registry.latest("invoice_verification_result").raw
    payload = from_json(raw, example("invoice_verification_result"))
    checked = payload["checked_at"]
    assert checked == datetime(2024, 5, 21, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert checked == datetime(2024, 5, 21, 1, 30, tzinfo=UTC)
    naive = from_json(raw, {**example("invoice_verification_result"), "checked_at": "2024-05-21"})
    assert naive["checked_at"] == datetime(2024, 5, 21, tzinfo=UTC)  # no offset: UTC


def test_from_json_decodes_base64_bytes(registry: SchemaRegistry) -> None:
    raw = registry.latest("dead_letter").raw
    record = {
        "dead_letter_id": "dl-1",
        "reason": "undecodable",
        "detail": "d",
        "source_topic": "hub.ingress",
        "source_partition": 0,
        "source_offset": 5,
        "dead_lettered_at": "2024-05-21T01:30:00Z",
        "original": "wwE=",
    }
    out = from_json(raw, record)
    assert out["original"] == b"\xc3\x01"
    assert out["dead_lettered_at"] == datetime(2024, 5, 21, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stem", "change", "fragment"),
    [
        ("invoice_verification_request", {"issue_date": "20/05/2024"}, "$.issue_date"),
        ("invoice_verification_result", {"checked_at": "yesterday"}, "not an ISO timestamp"),
        ("clue_transfer", {"requested_deadline": "July"}, "not an ISO date"),
        ("clue_transfer", {"category": "BRIBERY"}, "'BRIBERY' is not one of"),
        ("clue_transfer", {"evidence": "none"}, "$.evidence: expected a list"),
        ("clue_transfer", {"subject": "a hospital"}, "expected an object for Subject"),
    ],
)
def test_from_json_rejects_values_that_do_not_fit(
    registry: SchemaRegistry, stem: str, change: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(PayloadError) as info:
        from_json(registry.latest(stem).raw, {**example(stem), **change})
    assert fragment in str(info.value)


def test_from_json_rejects_unknown_fields_with_their_path(registry: SchemaRegistry) -> None:
    raw = registry.latest("clue_transfer").raw
    with pytest.raises(PayloadError, match=r"\$: unknown field\(s\) \['colour'\] in ClueTransfer"):
        from_json(raw, {**example("clue_transfer"), "colour": "red"})
    data = example("clue_transfer")
    data["batch"]["batch_no"] = 3
    with pytest.raises(PayloadError, match=r"\$\.batch: unknown field\(s\) \['batch_no'\]"):
        from_json(raw, data)


def test_from_json_rejects_missing_required_fields(registry: SchemaRegistry) -> None:
    raw = registry.latest("case_referral").raw
    data = example("case_referral")
    del data["summary"]
    with pytest.raises(PayloadError, match="missing required field 'summary'"):
        from_json(raw, data)
    data = example("case_referral")
    del data["suspects"][1]["name"]
    with pytest.raises(PayloadError, match=r"\$\.suspects\[1\]: missing required field 'name'"):
        from_json(raw, data)


def test_from_json_leaves_defaulted_fields_out(registry: SchemaRegistry) -> None:
    raw = registry.latest("case_referral").raw
    data = example("case_referral")
    del data["attachments"], data["cited_clue_ids"]
    out = from_json(raw, data)
    assert "attachments" not in out and "cited_clue_ids" not in out


def test_to_json(registry: SchemaRegistry) -> None:
    value = {
        "at": datetime(2024, 5, 21, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        "on": date(2024, 5, 20),
        "raw": b"\xc3\x01",
        "nested": [{"n": 1, "s": "x", "none": None}],
    }
    assert to_json(value) == {
        "at": "2024-05-21T01:30:00.123Z",
        "on": "2024-05-20",
        "raw": "wwE=",
        "nested": [{"n": 1, "s": "x", "none": None}],
    }
    json.dumps(to_json(value))  # JSON-serialisable


@pytest.mark.parametrize(
    "stem",
    [
        "case_referral",
        "clue_transfer",
        "corruption_clue_handoff",
        "invoice_verification_request",
        "invoice_verification_result",
    ],
)
def test_to_json_and_from_json_round_trip_a_decoded_record(
    registry: SchemaRegistry, stem: str
) -> None:
    schema = registry.latest(stem)
    record = codec.decode(registry, codec.encode(schema, from_json(schema.raw, example(stem))))[1]
    as_json = json.loads(json.dumps(to_json(record), ensure_ascii=False))
    assert from_json(schema.raw, as_json) == record
