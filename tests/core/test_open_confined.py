"""Whatever a row or request names is read only inside its folder, and only what was checked."""

from __future__ import annotations

import os
from pathlib import Path

from hub.core.files import open_confined


def test_a_file_inside_the_folder_opens_by_relative_or_absolute_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.pdf").write_bytes(b"%PDF")
    for name in ("a/b.pdf", str(tmp_path / "a" / "b.pdf")):
        opened = open_confined(tmp_path, name)
        assert opened is not None
        with opened:
            assert opened.read() == b"%PDF"


def test_ways_out_links_and_special_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (tmp_path / "secret").write_bytes(b"key")
    (folder / "link").symlink_to(tmp_path / "secret")
    (folder / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(folder / "fifo")
    (folder / "sub").mkdir()
    names = ["/etc/passwd", "../secret", "sub/../../secret", "link", "dirlink/secret", "fifo",
             "sub", "missing", "", "a\x00b", ".", str(tmp_path / "secret")]  # fmt: skip
    for name in names:
        assert open_confined(folder, name) is None, name


def test_the_file_handed_on_is_the_one_checked_even_if_the_name_is_swapped_after(
    tmp_path: Path,
) -> None:
    (tmp_path / "doc").write_bytes(b"checked")
    (tmp_path.parent / f"{tmp_path.name}-outside").write_bytes(b"secret")
    opened = open_confined(tmp_path, "doc")
    assert opened is not None
    (tmp_path / "doc").unlink()
    (tmp_path / "doc").symlink_to(tmp_path.parent / f"{tmp_path.name}-outside")
    with opened:
        assert opened.read() == b"checked"
