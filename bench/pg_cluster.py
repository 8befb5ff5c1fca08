"""A throwaway PostgreSQL cluster for one benchmark run: initdb in a temp dir, a free port, trust auth.

`bench/chaos.py` stops and starts it mid-run, which it must never do to the machine's own server on 5432 (other
people's tests use it). The cluster is removed by `remove()`, which the caller runs in a `finally`.
initdb refuses to run as root: as root, the cluster runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

DATABASE = "referloop_chaos"


@dataclass
class Cluster:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None  # the user the server runs as when we are root

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(self._command(tool, *args), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data_dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are cut, as in a crash-restart or a failover."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            # Removing the directory below is what matters; a stray server dies with its files.
            with contextlib.suppress(subprocess.SubprocessError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb (Debian's layout), else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def create(port: int) -> Cluster:
    """initdb, start and create the run's database; raises RuntimeError with the reason if it can't."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb) found: run with --db sqlite")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root and there is no postgres user for initdb: run with --db sqlite"
            ) from None
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="referloop-chaos-pg-"))
    data_dir = base / "data"
    data_dir.mkdir()
    if run_as:
        user = pwd.getpwnam(run_as)
        for path in (base, data_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    cluster = Cluster(bin_dir, data_dir, port, run_as)
    try:
        cluster._run("initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        cluster.start()
        _create_database(cluster)
    except BaseException:
        cluster.remove()
        raise
    return cluster


def _create_database(cluster: Cluster) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"postgres://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
