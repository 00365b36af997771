"""A throwaway PostgreSQL server for the tests, the benchmarks and `.ci/run`.

The tests of the PostgreSQL store need a real server. This script finds Debian's
PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`, or `initdb` on the PATH),
installs `postgresql-15` with apt when they are missing and it can (root, apt-get),
creates a cluster in a temporary folder, and runs it on 127.0.0.1 on a free port with a
random password. PostgreSQL refuses to run as root: as root, the server runs as the
unprivileged `postgres` user (created by Debian's package; `cloud-postgres` is created if
it is missing), which owns the folder. The cluster is for tests: `fsync` is off.

    python scripts/postgres.py start --dir /tmp/pg   # prints CLOUD_TEST_DATABASE_URL=…
    python scripts/postgres.py stop --dir /tmp/pg    # stops it and removes the folder

From Python: `with PostgresServer.start() as server: server.url`, and
`server.create_database()` for a fresh, empty database (one per test).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

PACKAGE = "postgresql-15"
SUPERUSER = "cloud"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # a test cluster: speed over durability
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
}


class Unavailable(RuntimeError):
    """PostgreSQL cannot be started here (not installed and not installable)."""


def find_binaries() -> Path | None:
    """The folder of `initdb`, `pg_ctl` and `postgres`: Debian's newest, or the PATH's."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version, reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _version(path: Path) -> float:
    try:
        return float(path.parent.parent.name)
    except ValueError:
        return 0.0


def install() -> None:
    """`apt-get install postgresql-15` (an `apt-get update` first if the lists are stale)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable(
            f"PostgreSQL is not installed, and installing it needs root and apt-get "
            f"(install {PACKAGE}, or set CLOUD_TEST_DATABASE_URL to a server of yours)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE]
    print(f"postgres: installing {PACKAGE} with apt-get", file=sys.stderr, flush=True)
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise Unavailable(f"apt-get install {PACKAGE} failed:\n{result.stderr[-2000:]}")


def ensure_binaries(*, install_missing: bool = True) -> Path:
    binaries = find_binaries()
    if binaries is None and install_missing:
        install()
        binaries = find_binaries()
    if binaries is None:
        raise Unavailable(f"PostgreSQL's initdb was not found (install {PACKAGE})")
    return binaries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> str | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "cloud-postgres"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         "cloud-postgres"],
        check=True, capture_output=True,
    )  # fmt: skip
    return "cloud-postgres"


class PostgresServer:
    """One running cluster in `folder` (its data in `folder/data`)."""

    def __init__(self, folder: Path, port: int, password: str, binaries: Path) -> None:
        self.folder = folder
        self.port = port
        self.password = password
        self.binaries = binaries

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, folder: Path | None = None, *, install_missing: bool = True) -> PostgresServer:
        binaries = ensure_binaries(install_missing=install_missing)
        folder = Path(folder or tempfile.mkdtemp(prefix="cloud-postgres-"))
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "data"
        password = secrets.token_hex(16)
        user = _server_user()
        (folder / "password").write_text(password + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (folder, folder / "password"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(folder / "password", 0o600)
        _run(
            [str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "scram-sha-256",
             f"--pwfile={folder / 'password'}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            user,
        )  # fmt: skip
        port = free_port()
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        options += f" -c port={port} -c unix_socket_directories={folder}"
        _run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
             "-o", options, "-w", "-t", "60", "start"],
            user,
        )  # fmt: skip
        server = cls(folder, port, password, binaries)
        (folder / "url").write_text(server.url + "\n")
        (folder / "port").write_text(f"{port}\n")
        server.wait_until_ready()
        return server

    @classmethod
    def attach(cls, folder: Path) -> PostgresServer:
        """The server `start` left running in `folder`."""
        password = (folder / "password").read_text().strip()
        port = int((folder / "port").read_text())
        return cls(folder, port, password, ensure_binaries(install_missing=False))

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"test_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self, *, remove: bool = True) -> None:
        data = self.folder / "data"
        if data.exists():
            _run(
                [str(self.binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                _server_user(),
                check=False,
            )
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _run(command: list[str], user: str | None, *, check: bool = True) -> None:
    result = subprocess.run(command, user=user, capture_output=True, text=True, cwd="/")
    if check and result.returncode != 0:
        raise Unavailable(
            f"{Path(command[0]).name} failed ({result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "url"))
    parser.add_argument("--dir", type=Path, required=True, help="the cluster's folder")
    args = parser.parse_args()
    try:
        if args.action == "start":
            server = PostgresServer.start(args.dir)
            print(f"CLOUD_TEST_DATABASE_URL={server.url}")
        elif args.action == "url":
            print(PostgresServer.attach(args.dir).url)
        else:
            PostgresServer.attach(args.dir).stop()
    except Unavailable as error:
        print(f"postgres: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
