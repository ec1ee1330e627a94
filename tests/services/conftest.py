"""Real redis-server and PostgreSQL on loopback for the test session, torn down afterwards.

Both run from a fresh temporary folder on free ports; as root they run as ``nobody`` (the
PostgreSQL server refuses root). Tests skip only when the binaries are not installed
(``make services`` installs them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVICE_USER = "nobody"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout, else PATH)."""
    versions = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if p.parent.parent.name.isdigit()
    ]
    found = sorted(versions, key=lambda p: int(p.parent.name))
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_service_user() -> dict[str, Any]:
    """Popen arguments that drop root to the unprivileged service user (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(SERVICE_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, log: Path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail}")
        if check():
            return
        time.sleep(0.05)  # polling a starting server: no event to wait on
    raise RuntimeError(f"{what} did not become ready within {START_TIMEOUT_S}s")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def services_root() -> Iterator[Path]:
    """A temp folder the service user can write (pytest's own tmp is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="stockdb-services-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(services_root: Path) -> Iterator[str]:
    """A redis-server on a free loopback port; yields its base URL ``redis://127.0.0.1:P``."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (run `make services`)")
    import redis

    port = free_port()
    log = services_root / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(services_root),
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **_as_service_user(),
    )

    def ready() -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    try:
        _wait_until(ready, proc, "redis-server", log)
        yield f"redis://127.0.0.1:{port}"
    finally:
        _stop(proc, signal.SIGTERM)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """Database 0 of the session's redis-server, emptied for this test."""
    import redis

    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL cluster with a trust-auth superuser ``stockdb``."""

    host: str
    port: int
    user: str

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server(services_root: Path) -> Iterator[PostgresServer]:
    """initdb into the services folder and run ``postgres`` on a free loopback port."""
    bin_dir = pg_bin_dir()
    if bin_dir is None or not (bin_dir / "postgres").exists():
        pytest.skip("PostgreSQL is not installed (run `make services`)")
    import psycopg

    data = services_root / "pg"
    sockets = services_root / "pg-sockets"
    log = services_root / "postgres.log"
    drop = _as_service_user()
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "stockdb",
            "--auth=trust",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        check=False,
        cwd=services_root,
        **drop,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")
    sockets.mkdir()
    if drop:
        os.chown(sockets, drop["user"], drop["group"])
    port = free_port()
    with log.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(sockets),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=services_root,
            **drop,
        )
    server = PostgresServer("127.0.0.1", port, "stockdb")

    def ready() -> bool:
        try:
            with server._admin():
                return True
        except psycopg.OperationalError:
            return False

    try:
        _wait_until(ready, proc, "postgres", log)
        yield server
    finally:
        _stop(proc, signal.SIGINT)  # fast shutdown: disconnect clients, then exit


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for this test (dropped afterwards); yields its ``postgresql://`` URL."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
