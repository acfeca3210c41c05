"""A throwaway PostgreSQL server for the server-mode tests, from the distribution's binaries.

`make test-server` installs Debian's `postgresql` when it is missing. initdb and pg_ctl refuse
to run as root, so as root they run as the `postgres` user. The server listens on a unix
socket in a temporary folder only (no TCP port); every test gets a database of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).parents[1] / "deploy"


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PgServer:
    def __init__(self, bindir: Path, folder: Path, fsync: bool = False):
        self.bindir, self.folder, self.fsync = bindir, folder, fsync
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_pg, str(self.bindir / tool), *args], check=True, capture_output=True,
                              text=True)

    @classmethod
    def started(cls, bindir: Path, fsync: bool = False) -> PgServer:
        """A new server in a new temporary folder (its owner is `postgres` when we are root)."""
        server = cls(bindir, Path(tempfile.mkdtemp(prefix="ppa-pg-")), fsync)
        if server.as_pg:
            shutil.chown(server.folder, "postgres", "postgres")
        server.start()
        return server

    def start(self) -> None:
        data = self.folder / "data"
        self.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        # tests: no fsync, as nothing here must survive a crash (the bench keeps it, as a real server does)
        fsync = "on" if self.fsync else "off"
        self.run("pg_ctl", "-D", str(data), "-w", "-l", str(self.folder / "log"), "-o",
                 f"-c listen_addresses='' -k {self.folder} -c fsync={fsync} -c max_connections=200", "start")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        subprocess.run([*self.as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@/{db}?host={self.folder}"

    def sql(self, statement: str, db: str = "postgres") -> str:
        return subprocess.run([str(self.bindir / "psql"), "-h", str(self.folder), "-U", "postgres", "-d", db,
                               "-qAt", "-c", statement], check=True, capture_output=True, text=True).stdout.strip()

    def create_database(self, synchronous_commit: bool = True) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        if not synchronous_commit:
            self.sql(f"ALTER DATABASE {name} SET synchronous_commit = off")
        return name


@pytest.fixture(scope="session")
def pg_server():
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: `make test-server` installs "
                    "Debian's postgresql package")
    server = PgServer.started(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database on the session's server."""
    return pg_server.url(pg_server.create_database())


def server_yaml(**monitoring) -> str:
    """deploy/dagster.yaml, with shorter intervals where a test needs them."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    launcher = config["run_launcher"]["config"]
    for key in ("heartbeat_interval_seconds", "heartbeat_timeout_seconds"):
        if key in monitoring:
            launcher[key] = monitoring.pop(key)
    config["run_monitoring"].update(monitoring)
    return yaml.safe_dump(config)


@pytest.fixture
def server_home(isolated_env, pg_url, monkeypatch) -> Path:
    """The test's DAGSTER_HOME in server mode: deploy/dagster.yaml on a fresh PostgreSQL database."""
    home = isolated_env["dagster_home"]
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    return home
