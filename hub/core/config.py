"""Settings of the hub and its connectors: one dataclass, from a TOML file and the environment.

Precedence (highest first): explicit keyword arguments, ``HUB_*`` environment variables, the
config file (``HUB_CONFIG`` or ``./hub.toml``), the defaults below.  Every setting is listed in
the README; ``hub config`` prints the effective values.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hub.core.errors import ConfigError
from hub.core.paths import POLICY_FILE, SLA_FILE, schemas_dir
from hub.core.text import masked_url


@dataclass(frozen=True)
class Settings:
    #: Working directory of this hub: state file, keys, directory, SQLite store, locks.
    home: Path = Path(".hub")
    #: Comma-separated Kafka bootstrap servers; empty means "start the embedded Tansu broker".
    kafka_bootstrap: str = ""
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    kafka_sasl_mechanism: str = ""  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    #: Upper bound a broker may hold a fetch with no data.  Tansu answers a waiting fetch only at
    #: this bound, so it is the per-hop latency floor there; 100 ms is cheap on Apache Kafka too.
    fetch_max_wait_ms: int = 100
    #: The same bound for the readers beside the router (the audit sink, the cosignature
    #: collector): a record reaches the audit store up to this much later, and an idle hub costs
    #: a third of the CPU it does at 100 ms (each empty fetch is work for Tansu and the reader).
    audit_fetch_max_wait_ms: int = 500
    #: Tansu holds every JoinGroup for about half the session timeout (1 s at 2 s, 2 s at 4 s,
    #: 3 s at 6 s), so with the embedded broker both default to EMBEDDED_SESSION (a restart
    #: routes again in ~2.8 s); on Kafka the broker's group.min.session.timeout.ms (6 s) is the
    #: floor.
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    #: Each start-up step (broker, topics, store, directory, the ingress group's join) fails
    #: with an error naming it after this long, instead of waiting forever (hub.runtime.startup).
    startup_timeout_s: float = 120.0
    #: Consumer group of the router workers; two workers with the same id share the work.
    app_id: str = "hub-router"
    #: The cryptographic suite new keys are made in (hub.trust.suites): ``intl`` (Ed25519, HPKE,
    #: SHA-256) or ``gm`` (SM2, SM4, SM3).  Keys already made keep their suite; a directory may
    #: hold both while agencies migrate.
    crypto_suite: str = "intl"
    #: Accept new messages signed with hub-sig-v1 (which does not cover the encryption header):
    #: only while the connectors of a deployment move to hub-sig-v2.
    accept_hub_sig_v1: bool = False
    #: The router completes up to this many ingress records together (one transaction, one
    #: wait for the broker's acknowledgements); 1 routes record by record.
    ingress_batch_records: int = 500
    #: SQLAlchemy URL of the hub's durable store; empty means SQLite in ``home``.
    store_url: str = ""
    directory_file: str = ""  # empty: <home>/directory.json
    #: The directory keys the directory must be signed with (hub.trust.signed); empty:
    #: <home>/directory-anchor.json.  Routers and connectors load no directory without it.
    directory_anchor_file: str = ""
    #: The operators' directory key (private).  A production hub does not have it (it lives
    #: offline); a development hub makes one.  Empty: <home>/keys/directory-operators.pem.
    directory_key_file: str = ""
    policy_file: str = ""  # empty: the packaged hub/data/policy.yaml
    schemas_dir: str = ""  # empty: <project>/schemas/avro
    #: Port of the worker's HTTP server (/metrics); 0 picks a free port.
    web_port: int = 0
    web_host: str = "127.0.0.1"
    #: Create a development directory (keys for a set of demo connectors) when none exists.
    #: "auto" does so only when the embedded broker is used.
    dev_directory: str = "auto"
    #: Replication factor of topics the hub creates; 3 on a production cluster.
    topic_replication: int = 1
    log_level: str = "info"  # info | debug | warn | error (hub run's log level)
    #: SLA deadlines file; empty means the packaged hub/data/sla.yaml.
    sla_file: str = ""
    #: Seconds between two runs of the SLA timer (warnings, breaches, escalations).
    sla_tick_s: float = 1.0
    #: How long after a breach the obligation escalates to the supervising level.
    sla_escalation_grace_s: float = 86400.0
    #: Shift of the hub's clock in seconds (for rehearsals and tests).
    clock_offset_s: float = 0.0
    #: A file holding extra seconds added to the clock, re-read at every tick; tests write it
    #: to jump the running hub past a deadline.  Empty: not used.
    clock_file: str = ""
    #: The clock file lets whoever can write it fire every deadline at once; it is honoured
    #: only when this test setting is true.
    allow_clock_file: bool = False
    #: SQLAlchemy URL of the audit store (the transfer log); empty means SQLite in ``home``.
    audit_url: str = ""
    #: Run the audit sink inside `hub run` (false when it runs as its own `hub audit sink`).
    audit_sink: bool = True
    #: Port of the audit sink's own /metrics (a process of its own); 0 picks a free port.
    audit_metrics_port: int = 0
    #: Sign a checkpoint of the audit chain after this many new records...
    audit_checkpoint_every: int = 1000
    #: ...or this many seconds after the first record not yet covered by one.
    audit_checkpoint_interval_s: float = 60.0
    #: An RFC 3161 time-stamping authority (URL) that dates every signed checkpoint
    #: (hub.audit.timestamps); empty: none.  ``tsa_ca_file`` holds the CA certificates its tokens
    #: are verified against (``hub audit verify``), ``tsa_interval_s`` how often pending
    #: checkpoints are sent to it.
    tsa_url: str = ""
    tsa_ca_file: str = ""
    tsa_interval_s: float = 10.0
    #: How long checkpoints may go without a token before the routers stop taking new ingress
    #: (records wait in hub.ingress, nothing is lost); X-Road's default, 4 h.
    acceptable_timestamp_failure_period_s: float = 14400.0
    #: Secret that keys the hashes standing in for subjects' codes in the audit log; every
    #: worker of one hub must share it.  Empty: <home>/keys/audit-subject.secret (created).
    audit_secret_file: str = ""
    #: Key of the tags that authenticate audit records (hub.audit.mac); shared by the router,
    #: the SLA publisher and the audit sink.  Empty: <home>/keys/audit-mac.secret (created).
    audit_mac_file: str = ""
    #: Where the monthly archives of the audit log are kept, one folder per month (YYYY-MM, as
    #: `hub audit archive --month M --out DIR/M` writes them): `hub audit trail` and the console
    #: find a pruned hand-off there.  Empty: <home>/archives.
    audit_archive_dir: str = ""
    #: Seconds between two signed heads of the audit log sent to every connector (when the log
    #: grew); each connector checks a new head is consistent with the last it kept.
    tree_head_interval_s: float = 300.0
    #: A head carries consistency proofs from this many earlier heads, so a connector that
    #: missed some (a broker that lost them) can still check the next one.
    tree_head_proofs: int = 16
    #: The hub's served transparency log (``http://HOST:PORT/tlog``): a connector reads its tiles
    #: to prove a tree head consistent with the one it kept when the head's own proofs do not
    #: start there.  Empty: the web port of a hub running from this home (its state.json).
    tlog_url: str = ""
    #: How long a job that must run once (tree heads, pruning) stays with the process holding
    #: its lease without a renewal; renewed every third of it.  A dead holder's job is taken
    #: over within this; the hub's hosts must keep time (NTP) far closer than this.
    job_lease_s: float = 30.0
    #: Seconds between two reloads of the status board page (/board).
    board_refresh_s: int = 10
    #: Days an active key is trusted before it is due for rotation (`hub keys rotate`); ops are
    #: warned 30 days ahead through hub_key_expiry_timestamp_seconds.
    key_lifetime_days: float = 365.0
    #: Dead letters (with the bytes that were refused) are deleted after this many days.
    dead_letter_retention_days: float = 90.0
    #: Delivered ids are remembered for de-duplication this many days (several freshness
    #: windows; past the window a repeat is refused as stale anyway), then pruned.
    dedup_retention_days: float = 30.0
    #: Largest ingress record the hub handles whole; a larger one is dead-lettered as too_large
    #: with its SHA-256 and first bytes.  Below the producers' 1 MiB request limit, so a dead
    #: letter carrying a record of this size can itself be written.
    max_record_bytes: int = 900_000
    #: The largest document a message may carry (its chunks, hub.wire.documents): 2 GiB.
    max_document_bytes: int = 2 * 1024**3
    #: How long a documents topic (hub.docs.AGENCY.REGION) keeps chunks: 4 weeks, as an inbox.
    #: A recipient must have read a message's documents within it.
    docs_retention_ms: int = 4 * 7 * 24 * 3600 * 1000
    #: An envelope created longer ago than this before it reached the hub is stale.
    freshness_max_age_s: float = 86400.0
    #: An envelope created more than this after it reached the hub is from the future.
    freshness_max_ahead_s: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # -- derived paths -------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return not self.kafka_bootstrap.strip()

    @property
    def archive_path(self) -> Path:
        return Path(self.audit_archive_dir) if self.audit_archive_dir else self.home / "archives"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def directory_path(self) -> Path:
        return Path(self.directory_file) if self.directory_file else self.home / "directory.json"

    @property
    def directory_anchor_path(self) -> Path:
        if self.directory_anchor_file:
            return Path(self.directory_anchor_file)
        return self.home / "directory-anchor.json"

    @property
    def directory_key_path(self) -> Path:
        if self.directory_key_file:
            return Path(self.directory_key_file)
        return self.keys_dir / "directory-operators.pem"

    @property
    def policy_path(self) -> Path:
        return Path(self.policy_file) if self.policy_file else POLICY_FILE

    @property
    def sla_path(self) -> Path:
        return Path(self.sla_file) if self.sla_file else SLA_FILE

    @property
    def schemas_path(self) -> Path:
        return Path(self.schemas_dir) if self.schemas_dir else schemas_dir()

    @property
    def effective_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.home / 'hub.db').resolve()}"

    @property
    def effective_audit_url(self) -> str:
        return self.audit_url or f"sqlite:///{(self.home / 'audit.db').resolve()}"

    @property
    def audit_secret_path(self) -> Path:
        if self.audit_secret_file:
            return Path(self.audit_secret_file)
        return self.keys_dir / "audit-subject.secret"

    @property
    def audit_mac_path(self) -> Path:
        return (
            Path(self.audit_mac_file) if self.audit_mac_file else self.keys_dir / "audit-mac.secret"
        )

    def kafka_python_security(self) -> dict[str, Any]:
        """Security keyword arguments for kafka-python clients."""
        out: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            out["sasl_mechanism"] = self.kafka_sasl_mechanism
            out["sasl_plain_username"] = self.kafka_sasl_username
            out["sasl_plain_password"] = self.kafka_sasl_password
        if self.kafka_ssl_cafile:
            out["ssl_cafile"] = self.kafka_ssl_cafile
        if self.kafka_ssl_certfile:
            out["ssl_certfile"] = self.kafka_ssl_certfile
        if self.kafka_ssl_keyfile:
            out["ssl_keyfile"] = self.kafka_ssl_keyfile
        return out


_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}


def _coerce(name: str, raw: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(str(raw))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {name}: {raw!r} is not a valid {type(default).__name__}"
        ) from exc
    return str(raw)


#: The group timeouts of a hub on its embedded broker, unless set: shorter than Kafka's floor, so
#: that Tansu's hold on each join is 2 s, not 3 (restart → routing 2.7–2.9 s against 3.8–4.0 s
#: at 6 s).  Not 2 s, which holds a join for 1 s (1.8–2.0 s): under the test suite's load a
#: router missed its heartbeats for 2 s, lost its partitions mid-batch and read them again.
EMBEDDED_SESSION: dict[str, Any] = {"session_timeout_s": 4.0, "heartbeat_interval_s": 1.0}


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings from file, environment and ``overrides``."""
    values: dict[str, Any] = {}
    path = Path(config_file or os.environ.get("HUB_CONFIG") or "hub.toml")
    if path.is_file():
        with path.open("rb") as fh:
            try:
                values.update(tomllib.load(fh).get("hub", {}))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
    elif config_file or os.environ.get("HUB_CONFIG"):
        raise ConfigError(f"config file {path} does not exist")
    known = {f.name: f for f in fields(Settings) if f.name != "extra"}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for name in known:
        env = os.environ.get(f"HUB_{name.upper()}")
        if env is not None:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    defaults = Settings()
    kwargs = {n: _coerce(n, v, getattr(defaults, n)) for n, v in values.items()}
    settings = Settings(**kwargs)
    if settings.embedded:
        short = {k: v for k, v in EMBEDDED_SESSION.items() if k not in kwargs}
        settings = replace(settings, **short)
    if settings.kafka_security_protocol not in _PROTOCOLS:
        raise ConfigError(
            f"kafka_security_protocol must be one of {sorted(_PROTOCOLS)}, "
            f"not {settings.kafka_security_protocol!r}"
        )
    if settings.crypto_suite not in ("intl", "gm"):
        raise ConfigError(f"crypto_suite must be intl or gm, not {settings.crypto_suite!r}")
    if settings.fetch_max_wait_ms < 0 or settings.audit_fetch_max_wait_ms < 0:
        raise ConfigError("fetch_max_wait_ms and audit_fetch_max_wait_ms must be >= 0")
    if settings.sla_tick_s <= 0:
        raise ConfigError("sla_tick_s must be > 0")
    if settings.audit_checkpoint_every < 1:
        raise ConfigError("audit_checkpoint_every must be >= 1")
    if settings.sla_escalation_grace_s < 0:
        raise ConfigError("sla_escalation_grace_s must be >= 0")
    window_days = (settings.freshness_max_age_s + settings.freshness_max_ahead_s) / 86400
    if settings.dedup_retention_days < 2 * window_days:
        raise ConfigError(
            "dedup_retention_days must be at least twice the freshness window "
            f"({2 * window_days:g} days): a repeat inside the window must still be recognised"
        )
    if settings.job_lease_s <= 0:
        raise ConfigError("job_lease_s must be > 0")
    if settings.tree_head_interval_s <= 0 or settings.tree_head_proofs < 1:
        raise ConfigError("tree_head_interval_s must be > 0 and tree_head_proofs >= 1")
    if settings.ingress_batch_records < 1:
        raise ConfigError("ingress_batch_records must be >= 1")
    if settings.max_record_bytes < 1024:
        raise ConfigError("max_record_bytes must be at least 1024")
    return settings


def describe(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain values, secrets masked (for ``hub config``)."""
    out: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        if f.name == "kafka_sasl_password" and value:
            value = "******"
        elif f.name.endswith("_url") and value:
            value = masked_url(value)
        out[f.name] = str(value) if isinstance(value, Path) else value
    out["store_url (effective)"] = masked_url(settings.effective_store_url)
    out["audit_url (effective)"] = masked_url(settings.effective_audit_url)
    out["directory (effective)"] = str(settings.directory_path)
    out["directory anchor (effective)"] = str(settings.directory_anchor_path)
    out["policy (effective)"] = str(settings.policy_path)
    out["sla (effective)"] = str(settings.sla_path)
    out["schemas (effective)"] = str(settings.schemas_path)
    return out
