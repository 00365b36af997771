"""Installing the Pulumi CLI: only a tarball whose checksum the release publishes."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from controller.action.pulumi_cli import BASE_URL, InstallError, install_pulumi


def tarball(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def release(archive, *, checksum=None):
    name = "pulumi-v3.200.0-linux-x64.tar.gz"
    digest = checksum or hashlib.sha256(archive).hexdigest()
    checksums = f"abc  pulumi-v3.200.0-darwin-x64.tar.gz\n{digest}  {name}\n"
    served = {
        f"{BASE_URL}/{name}": archive,
        f"{BASE_URL}/pulumi-3.200.0-checksums.txt": checksums.encode(),
    }
    return served.__getitem__


def test_a_verified_release_is_unpacked(tmp_path):
    archive = tarball(
        {"pulumi/pulumi": b"#!/bin/sh\necho v3.200.0\n", "pulumi/pulumi-language-python": b"x"}
    )
    folder = install_pulumi("v3.200.0", tmp_path, fetch=release(archive), architecture="x64")
    assert folder == tmp_path / "3.200.0"
    assert (folder / "pulumi").read_bytes().startswith(b"#!/bin/sh")


def test_a_checksum_mismatch_installs_nothing(tmp_path):
    archive = tarball({"pulumi/pulumi": b"tampered"})
    with pytest.raises(InstallError, match="checksum mismatch"):
        install_pulumi(
            "3.200.0", tmp_path, fetch=release(archive, checksum="0" * 64), architecture="x64"
        )
    assert list(tmp_path.iterdir()) == []


def test_an_archive_escaping_its_folder_is_refused(tmp_path):
    archive = tarball({"../outside": b"x", "pulumi/pulumi": b"y"})
    with pytest.raises(tarfile.OutsideDestinationError):
        install_pulumi("3.200.0", tmp_path / "tools", fetch=release(archive), architecture="x64")
    assert not (tmp_path / "outside").exists()
