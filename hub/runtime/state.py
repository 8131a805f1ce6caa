"""The running hub's state file: where its broker and web server are, so a second terminal in the
same directory can ``hub send`` / ``hub inbox`` with no extra setup."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hub.core.config import Settings
from hub.core.errors import NotFound


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


def read_state(path: Path) -> HubState | None:
    """The state of a hub that is still running, or None (a stale file is ignored)."""
    try:
        state = HubState(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return state if pid_alive(state.pid) else None


def clear_state(path: Path, pid: int) -> None:
    current = read_state(path)
    if current is None or current.pid == pid:
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
