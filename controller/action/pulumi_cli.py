"""Installing the Pulumi CLI for the action: exactly the locked version, checksum verified.

The version is the `pulumi==` pin of the catalog's lock (`stacks/requirements.lock`), so
the CLI and the SDK the stack programs run on never drift apart (the installed SDK's
version when there is no lock). The tarball's SHA-256 must match the release's published
checksums file and, when the repo lists it in `stacks/pulumi-cli.sha256`, that too; the
archive is unpacked with tarfile's `data` filter (no absolute paths, no links out, no
device files).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import platform
import re
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


def locked_version(lock_text: str) -> str | None:
    """The exact `pulumi==X` pin of a requirements lock, or None."""
    match = re.search(r"^pulumi==([0-9][0-9A-Za-z.+-]*)", lock_text, re.MULTILINE)
    return match.group(1) if match else None


def pinned_sums(text: str) -> dict[str, str]:
    """`{archive name: sha256}` from a `sha256sum`-style file (comments allowed)."""
    sums = {}
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            sums[parts[1].lstrip("*")] = parts[0]
    return sums


def arch() -> str:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    raise InstallError(f"no Pulumi CLI build for the {machine} architecture")


def install_pulumi(
    version: str | None,
    target: Path,
    *,
    fetch: Fetch = _download,
    architecture: str | None = None,
    pinned: dict[str, str] | None = None,
) -> Path:
    """Download, verify and unpack the CLI under `target`; return its `bin` folder.
    `pinned`: SHA-256 sums the repo holds, which the archive must also match."""
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
    held = (pinned or {}).get(archive_name)
    if held is not None and held != expected:
        raise InstallError(
            f"the release's checksum of {archive_name} ({expected}) is not the one the repo "
            f"pins ({held}); not installing"
        )
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
