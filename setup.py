"""Build step that pyproject.toml cannot express: carry the Avro contract inside the package.

``schemas/avro/`` at the top of the checkout stays the one source of truth; a built wheel gets a
copy of it as ``hub/wire/avro/`` so an installed ``hub`` works from any directory
(``hub.core.paths.schemas_dir`` finds either).  Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CONTRACT = ROOT / "schemas" / "avro"


class BuildWithContract(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's schemas/avro
            return
        target = Path(self.build_lib) / "hub" / "wire" / "avro"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(CONTRACT.glob("*.avsc")):
            shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildWithContract})
