"""Private files and folders: created with their final mode, loose ones tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from controller.adapters.private_files import private_dir, private_file, write_private
from controller.store.sqlite import open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_folders_are_made_0700_at_every_level(tmp_path: Path) -> None:
    previous = os.umask(0o000)
    try:
        private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(previous)
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3


def test_an_existing_folder_is_tightened_only_when_asked(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    private_dir(shared, tighten=False)
    assert mode(shared) == 0o755
    private_dir(shared)
    assert mode(shared) == 0o700


def test_a_loose_file_is_tightened_and_a_new_one_is_born_private(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("x")
    os.chmod(loose, 0o644)
    private_file(loose)
    assert mode(loose) == 0o600 and loose.read_text() == "x"
    write_private(tmp_path / "new", "secret")
    assert mode(tmp_path / "new") == 0o600 and (tmp_path / "new").read_text() == "secret"


def test_a_store_left_open_by_an_older_version_is_tightened_at_open(tmp_path: Path) -> None:
    data = tmp_path / ".cloud"
    data.mkdir()
    os.chmod(data, 0o755)
    open_store(data / "cloud.db").close()
    os.chmod(data / "cloud.db", 0o644)
    open_store(data / "cloud.db").close()
    assert mode(data) == 0o700 and mode(data / "cloud.db") == 0o600


def test_a_store_in_a_folder_of_its_own_choosing_leaves_that_folder_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    open_store(tmp_path / "service.db").close()
    assert mode(tmp_path) == 0o755 and mode(tmp_path / "service.db") == 0o600
