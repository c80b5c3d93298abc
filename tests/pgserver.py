"""A real PostgreSQL server for the tests and benchmarks: the distribution's binaries,
``initdb`` into a temporary directory and ``pg_ctl start`` on a free 127.0.0.1 port.

As root (CI, containers), the server runs as the ``postgres`` user (PostgreSQL refuses to
run as root) through ``runuser``; the data directory is created for that user. For tests the server skips fsync (``durable=False``): never
point it at data you want to keep.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them under
    /usr/lib/postgresql/<version>/bin), or the ones on PATH; None when there are none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One throw-away PostgreSQL server; :meth:`new_database` gives each test its own."""

    SUPERUSER = "motcua"
    #: The role the bot connects as in the tests, as in production: it owns its databases
    #: but is no superuser, so row-level security applies to it.
    APP_ROLE = "motcua_app"

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = 0
        self._dir: Path | None = None
        self._counter = itertools.count(1)
        self._as: list[str] = []
        self._role_made = False

    @property
    def data_dir(self) -> Path:
        assert self._dir is not None
        return self._dir / "data"

    def _cmd(self, *args: str) -> list[str]:
        return [*self._as, *args]

    def start(self) -> None:
        """initdb and start; raises RuntimeError with the server's log when it fails."""
        self._dir = Path(tempfile.mkdtemp(prefix="motcua-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")  # created by the distribution's package
            except KeyError:
                raise RuntimeError("running as root, PostgreSQL needs a 'postgres' user to run as") from None
            os.chown(self._dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        log = self._dir / "server.log"
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.SUPERUSER,
                "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
            ),
            check=True, capture_output=True,
        )
        self.port = _free_port()
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self._dir}",
            "-c max_connections=200",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        options = " ".join(settings)
        started = subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log),
                "-o", options, "-w", "-t", "60", "start",
            ),
            capture_output=True, text=True,
        )
        if started.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else started.stderr
            raise RuntimeError(f"PostgreSQL did not start: {text[-2000:]}")

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._dir is None:
            return
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"),
            capture_output=True,
        )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def url(self, database: str = "postgres", role: str | None = None) -> str:
        """The URL of ``database`` on this server, as ``role`` (default: the superuser)."""
        return f"postgresql://{role or self.SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """Create an empty database owned by :data:`APP_ROLE` and return its URL (as
        that role)."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        if not self._role_made:
            self._admin(f"CREATE ROLE {self.APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
            self._role_made = True
        self._admin(f'CREATE DATABASE "{name}" OWNER {self.APP_ROLE}')
        return self.url(name, self.APP_ROLE)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_database` (closing its connections)."""
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
