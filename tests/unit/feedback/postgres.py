"""Real PostgreSQL for the store tests: a fresh database per use, and a throwaway cluster to stop and start.

The server is BRON_TEST_POSTGRES_URL if set, else the one CI and the development machines run at
127.0.0.1:5432 (trust auth, database `test`). Each use creates `bron_test_<random>` and drops it, so
runs never see each other's rows. When no server answers the tests FAIL (a store that was never
tested on PostgreSQL must not look green), unless BRON_SKIP_POSTGRES=1 says to skip them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """The server to use, or pytest.fail/skip when it does not answer."""
    url = os.environ.get("BRON_TEST_POSTGRES_URL", DEFAULT_URL)
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        message = (
            f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} does not answer ({exc.orig}); "
            "start it (.ci/run does), point BRON_TEST_POSTGRES_URL at one, or set BRON_SKIP_POSTGRES=1"
        )
        if os.environ.get("BRON_SKIP_POSTGRES") == "1":
            pytest.skip(message)
        pytest.fail(message)
    finally:
        engine.dispose()
    return url


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """CREATE DATABASE bron_test_<random> on the server at `url`, yield its URL, DROP it afterwards."""
    name = f"bron_test_{uuid.uuid4().hex[:12]}"
    # NullPool: a server restarted meanwhile (the spool test) must not leave a dead pooled connection
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


class ThrowawayCluster:
    """A PostgreSQL cluster of our own, so a test can stop the database under the store and restart it."""

    def __init__(self, port: int) -> None:
        bin_dir = _pg_bin()
        if bin_dir is None:
            pytest.fail("initdb/pg_ctl not found: install PostgreSQL (Debian: postgresql)")
        self.bin = bin_dir
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="bron-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", opts, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
