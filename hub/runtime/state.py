"""The running hub's state file: where its broker and web server are, so a second terminal in the
same directory can ``hub send`` / ``hub inbox`` with no extra setup.

Whether a hub runs is the lock's word (``hub.lock`` beside the state file, held by ``hub run`` for
its life; ``hub.core.process_lock``), never the PID in the file: a PID outlives a killed process
as a zombie and is reused by unrelated ones.  The state file is information only."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hub.core.config import Settings
from hub.core.errors import NotFound
from hub.core.process_lock import ProcessLock, is_held


class NoHubRunning(NotFound):
    pass


@dataclass(frozen=True)
class HubState:
    pid: int
    bootstrap: str
    embedded: bool
    web_url: str
    started_at: str
    audit_metrics_url: str = ""  # the audit sink's /metrics, when `hub run` started it
    #: The embedded broker's run id, the epoch of its topics (``hub.runtime.admin.TopicEpochs``);
    #: a second router worker (``hub worker``) stamps its deliveries with the same.
    embedded_run: str = ""


def write_state(path: Path, state: HubState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def lock_path(state_file: Path) -> Path:
    return state_file.with_name("hub.lock")


def hub_lock(state_file: Path) -> ProcessLock:
    """The lock ``hub run`` holds while it runs from the directory of ``state_file``."""
    return ProcessLock(lock_path(state_file), f"a hub in {state_file.parent}")


def read_state(path: Path) -> HubState | None:
    """The state of a hub that is running from here (one holds the lock), or None."""
    if not is_held(lock_path(path)):
        return None
    try:
        return HubState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def clear_state(path: Path) -> None:
    path.unlink(missing_ok=True)


def resolve_bootstrap(settings: Settings) -> str:
    """Configured bootstrap servers, else those of the hub running from this directory."""
    if not settings.embedded:
        return settings.kafka_bootstrap
    state = read_state(settings.state_file)
    if state is None:
        raise NoHubRunning(
            "no Kafka bootstrap servers configured and no running hub found "
            f"({settings.state_file}); "
            "start one with `./dev run` (or `hub run`) in this directory, "
            "or set HUB_KAFKA_BOOTSTRAP"
        )
    return state.bootstrap
