"""A thread changes folder holding the GIL only where the folder is on a local file system: elsewhere a path
lookup may wait on a network, and holding the GIL then would stop every thread, the event loop's too."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from runner.procs import job_folder as job_folder_module
from runner.procs import local_folders
from runner.procs.job_folder import job_folder

MOUNTS = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /mnt/shared\\040files rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 0:36 / /mnt/shared\\040files/scratch rw,relatime - tmpfs tmpfs rw
42 22 0:37 / /mnt/fuse rw,nosuid - fuse.sshfs host:/ rw
43 22 0:38 / /mnt/shared rw - xfs /dev/vdb rw
"""


@pytest.fixture
def mount_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTS)
    monkeypatch.setattr(local_folders, "MOUNT_TABLE", str(table))
    monkeypatch.setattr(local_folders, "_known", {})


@pytest.mark.usefixtures("mount_table")
@pytest.mark.parametrize(
    ("folder", "kind", "local"),
    [
        ("/home/me/decks", "ext4", True),
        ("/mnt/shared files/decks", "nfs4", False),
        ("/mnt/shared files", "nfs4", False),
        ("/mnt/shared files/scratch/a", "tmpfs", True),
        ("/mnt/shared/decks", "xfs", True),
        ("/mnt/fuse/decks", "fuse.sshfs", False),
    ],
)
def test_a_folder_is_local_by_the_file_system_of_its_innermost_mount(folder: str, kind: str, local: bool) -> None:
    assert local_folders.file_system_type(folder) == kind
    assert local_folders.on_local_file_system(folder) is local


def test_a_folder_whose_file_system_cannot_be_told_is_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_folders, "MOUNT_TABLE", "/nonexistent/mountinfo")
    monkeypatch.setattr(local_folders, "_known", {})
    assert local_folders.on_local_file_system("/home") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's mount table")
def test_this_machines_proc_is_not_local_and_its_root_is() -> None:
    assert local_folders.on_local_file_system("/proc") is False
    assert local_folders.file_system_type("/") is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have folders of their own on Linux")
@pytest.mark.parametrize("local", [True, False])
def test_a_thread_lets_the_gil_go_to_change_into_a_folder_that_is_not_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local: bool
) -> None:
    monkeypatch.setattr(job_folder_module, "on_local_file_system", lambda folder: local)
    released: list[str] = []
    real_chdir = os.chdir

    def chdir_letting_the_gil_go(path: str) -> None:
        released.append(str(path))
        real_chdir(path)

    monkeypatch.setattr(os, "chdir", chdir_letting_the_gil_go)
    seen: list[str] = []

    def job() -> None:
        with job_folder(str(tmp_path), alone=False):
            seen.append(os.getcwd())

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(30)
    assert seen == [str(tmp_path)]
    assert (str(tmp_path) in released) is not local
