"""The project stands alone: whoever clones it has everything its files point to.

No tracked file names a path outside the repository (the steering repo's ``shared/`` folder,
its seeds), and every relative link in the Markdown pages resolves to a file in the checkout.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./shared|shared/domain\.md|shared/seeds|\bseed 00\d\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines() if line]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for path in tracked():
        if path.suffix not in {".py", ".md", ".toml", ".yaml", ".yml", ".json", ".cfg", ""}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        if path == Path(__file__):
            continue
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not offenders, offenders


def test_every_relative_link_of_the_pages_resolves_inside_the_checkout() -> None:
    broken = []
    for page in [p for p in tracked() if p.suffix == ".md"]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
