"""A private PostgreSQL cluster for tests: initdb in a temp dir, a free port, a non-root user.

    cluster = PgCluster.start()        # or skip: PgCluster.unavailable() says why
    url = cluster.new_database()        # a fresh, empty database (and its URL)
    cluster.restart()                   # fast stop + start on the same port (tests of DB loss)
    cluster.stop()                      # and the directory is removed

Never the system service: the binaries of Debian's ``postgresql`` package
(``/usr/lib/postgresql/*/bin``) run as the ``postgres`` user (through ``runuser``) when
the tests run as root, and as the current user otherwise. The socket is in the temp dir;
TCP only on 127.0.0.1.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 60.0
USER = "warpcli"
PASSWORD = "s3cret-" + uuid.uuid4().hex[:12]  # a password that must never show up in output


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, root: Path, bindir: Path, run_as: str | None) -> None:
        self.root = root
        self.bindir = bindir
        self.run_as = run_as
        self.data = root / "data"
        self.sock = root / "sock"
        self.port = _free_port()
        self.log = root / "postgres.log"

    @staticmethod
    def unavailable() -> str | None:
        """Why a cluster cannot start here, or None."""
        if _bin_dir() is None:
            return "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt install postgresql)"
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            return "psycopg / psycopg_pool are not installed (pip install 'warpcli[postgres]')"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` user to run the cluster as"
            if shutil.which("runuser") is None:
                return "running as root and runuser is missing"
        return None

    def _run(self, *argv: str, check: bool = True, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {p.stderr.strip()}\n{self.log_text()}")
        return p

    @classmethod
    def start(cls) -> PgCluster:
        bindir = _bin_dir()
        assert bindir is not None
        run_as = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="warpcli-pg-"))
        root.chmod(0o755)
        self = cls(root, bindir, run_as)
        self.sock.mkdir()
        if run_as:
            pw = pwd.getpwnam(run_as)
            os.chown(root, pw.pw_uid, pw.pw_gid)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-sync", "--locale=C.UTF-8")
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                           f"unix_socket_directories = '{self.sock}'\nmax_connections = 200\n"
                           "shared_buffers = 64MB\nfsync = on\nlog_min_messages = warning\n")
            with open(self.data / "pg_hba.conf", "w") as hba:  # the test user needs its password over TCP
                hba.write("local all postgres trust\nlocal all all scram-sha-256\n"
                          "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
            self._pg_ctl_start()
            self.admin(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        except BaseException:
            self.stop()
            raise
        return self

    def _pg_ctl_start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)), "start")

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.sock), port=self.port, user="postgres", dbname=dbname,
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """A fresh empty database owned by the test user; its URL (with the password)."""
        name = "w" + uuid.uuid4().hex[:16]
        self.admin(f"CREATE DATABASE {name} OWNER {USER}")
        return self.url(name)

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, dbname: str) -> str:
        """The URL through the unix socket (reachable from inside a network namespace)."""
        return f"postgresql://{USER}:{PASSWORD}@/{dbname}?host={self.sock}&port={self.port}"

    def stop_server(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def start_server(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the port may take a moment to be free again after an immediate stop
            try:
                self._pg_ctl_start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
