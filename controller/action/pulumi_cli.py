"""Installing the Pulumi CLI for the action: the SDK's own version, checksum verified.

The CLI version defaults to the installed `pulumi` Python package's version, so the CLI and
the SDK the stack programs run on never drift apart. The tarball's SHA-256 must match the
release's published checksums file; the archive is unpacked with tarfile's `data` filter
(no absolute paths, no links out, no device files).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import platform
import tarfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

BASE_URL = "https://get.pulumi.com/releases/sdk"
Fetch = Callable[[str], bytes]


class InstallError(RuntimeError):
    pass


def _download(url: str) -> bytes:  # pragma: no cover - network
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def sdk_version() -> str:
    return importlib.metadata.version("pulumi")


def arch() -> str:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    raise InstallError(f"no Pulumi CLI build for the {machine} architecture")


def install_pulumi(
    version: str | None, target: Path, *, fetch: Fetch = _download, architecture: str | None = None
) -> Path:
    """Download, verify and unpack the CLI under `target`; return its `bin` folder."""
    version = (version or sdk_version()).removeprefix("v")
    architecture = architecture or arch()
    archive_name = f"pulumi-v{version}-linux-{architecture}.tar.gz"
    bin_dir = target / version
    if (bin_dir / "pulumi").exists():
        return bin_dir
    archive = fetch(f"{BASE_URL}/{archive_name}")
    checksums = fetch(f"{BASE_URL}/pulumi-{version}-checksums.txt").decode()
    expected = next(
        (line.split()[0] for line in checksums.splitlines() if line.strip().endswith(archive_name)),
        None,
    )
    if expected is None:
        raise InstallError(f"{archive_name} is not in the release's checksums file")
    actual = hashlib.sha256(archive).hexdigest()
    if actual != expected:
        raise InstallError(
            f"checksum mismatch for {archive_name}: expected {expected}, "
            f"got {actual}; not installing"
        )
    staging = target / f".{version}.partial"
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as bundle:
        bundle.extractall(staging, filter="data")
    (staging / "pulumi").rename(bin_dir)
    staging.rmdir()
    return bin_dir
