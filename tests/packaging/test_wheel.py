"""The wheel is the product: built from the checkout, installed elsewhere, it runs on its own.

Builds the wheel, installs it (without dependencies) into a fresh virtualenv whose dependencies
come from the development environment's site-packages (so no download is needed), and runs
``hub`` from a directory far from the checkout: the Avro contract, policy, SLA rules and
calendars must all come from inside the installed package.  The wheel installs three top-level
names only (``hub``, ``connectors``, ``consumers``), so an unrelated distribution's ``gateway`` or
``demo`` beside it neither shadows ours nor is shadowed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    # A copy of what the sdist holds, so the build leaves nothing behind in the checkout.
    source = work / "source"
    for name in ("hub", "connectors", "consumers", "schemas"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wheels = list((work / "dist").glob("medfund_hub-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Dependencies from the development environment, as a plain path: its .pth files (the
    # editable install of the checkout among them) are not processed, so `hub` is the wheel's.
    (Path(site) / "dev-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         str(wheels[0])],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Someone else's packages with generic names, installed beside ours.
    for foreign in ("gateway", "demo", "responders"):
        (Path(site) / foreign).mkdir()
        (Path(site) / foreign / "__init__.py").write_text(f"OWNER = 'not the hub: {foreign}'\n")
    (work / "wheel-name").write_text(str(wheels[0]))
    return env_dir


def run(env_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_dir / "bin" / "hub"), *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def python_in(env_dir: Path, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the installed environment, from ``cwd``."""
    return subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", code],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_installed_hub_lists_its_families_from_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    result = run(installed, tmp_path, "families")
    assert result.returncode == 0, result.stderr
    assert "clue_transfer" in result.stdout and "corruption_clue_handoff" in result.stdout
    assert "v1, v2" in result.stdout  # both published versions of clue_transfer travel along


def test_the_installed_hub_reads_its_contract_policy_and_sla_from_the_package(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "import hub, hub.core.paths as p, hub.sla.workdays as w;"
        "from hub.sla.policy import load_sla_policy;"
        "print(hub.__file__); print(p.schemas_dir()); print(p.POLICY_FILE);"
        "load_sla_policy(); w.default_calendar()"
    )
    result = python_in(installed, tmp_path, probe)
    assert result.returncode == 0, result.stderr
    module, schemas, policy = result.stdout.split()
    for path in (module, schemas, policy):
        assert path.startswith(str(installed)), path
    assert schemas.endswith("hub/wire/avro")
    assert run(installed, tmp_path, "policy").returncode == 0


def test_the_installed_hub_reports_errors_without_a_traceback(
    installed: Path, tmp_path: Path
) -> None:
    result = run(installed, tmp_path, "send", "no_such_family", "--from", "MIB@350582",
                 "--to", "PSB@350582", "--payload", "missing.json")  # fmt: skip
    assert result.returncode == 2
    assert "unknown family" in result.stderr and "Traceback" not in result.stderr


def test_the_wheel_installs_three_top_level_names_and_no_benchmarks(installed: Path) -> None:
    wheel = Path((installed.parent / "wheel-name").read_text())
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist() if ".dist-info" not in name}
    assert tops == {"hub", "connectors", "consumers"}


def test_the_hub_works_beside_foreign_gateway_and_demo_packages_from_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    families = run(installed, tmp_path, "families")
    assert families.returncode == 0 and "clue_transfer" in families.stdout, families.stderr
    demo = run(installed, tmp_path, "demo", "--help")
    assert demo.returncode == 0 and "泉州" in demo.stdout, demo.stderr
    assert run(installed, tmp_path, "gateway", "--help").returncode == 0
    probe = (
        "import gateway, demo, connectors.gateway.api, connectors.responders.finance;"
        "import hub.demo.play;"
        "print(gateway.OWNER); print(demo.OWNER); print(connectors.gateway.api.__file__)"
    )
    result = python_in(installed, tmp_path, probe)
    assert result.returncode == 0, result.stderr
    foreign_gateway, foreign_demo, ours = result.stdout.split("\n")[:3]
    assert foreign_gateway == "not the hub: gateway" and foreign_demo == "not the hub: demo"
    assert ours.startswith(str(installed))
