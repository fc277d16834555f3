"""A throwaway PostgreSQL server on loopback (Debian's `postgresql` package, scripts/setup.sh --test), hardened
like the managed ones Strait creates: TLS required for every TCP connection (``hostssl`` only, as RDS's
``rds.force_ssl`` and Cloud SQL's ``ENCRYPTED_ONLY``), password authentication (scram-sha-256), a database and a
user of its own. initdb refuses to run as root, so the cluster belongs to the ``postgres`` system user when the
tests run as root (``runuser``)."""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.gateway.fakes import free_port


def postgres_bin() -> Path | None:
    """The newest installed server's bin directory (Debian keeps them under /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@dataclass
class Postgres:
    port: int
    db: str
    user: str
    password: str
    datadir: Path

    def url(self, sslmode: str = "require") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.db}?sslmode={sslmode}"


def _as_owner(argv: list[str], owner: str | None, **kw) -> subprocess.CompletedProcess:
    if owner:
        argv = ["runuser", "-u", owner, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True, **kw)


def start_postgres(db: str = "litellm", user: str = "litellm") -> tuple[Postgres, callable]:
    """Start a cluster; return it and a stop function (stop it in a ``finally``)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server: install Debian's postgresql package (scripts/setup.sh --test)")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="strait-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if owner:
        shutil.chown(root, owner)
        shutil.chown(sockdir, owner)
    password = secrets.token_urlsafe(24)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if owner:
        shutil.chown(pwfile, owner)
    # the superuser is the test's own user, with the same password
    _as_owner([str(bindir / "initdb"), "-D", str(datadir), "-U", user, "--pwfile", str(pwfile), "-A", "scram-sha-256",
               "--no-sync", "-E", "UTF8"], owner)
    key, cert = datadir / "server.key", datadir / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], capture_output=True, check=True, timeout=60)
    key.chmod(0o600)
    if owner:
        shutil.chown(key, owner)
        shutil.chown(cert, owner)
    # TLS or nothing over TCP; no password-less path at all
    (datadir / "pg_hba.conf").write_text(
        "local all all scram-sha-256\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n")
    port = free_port()
    _as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-w", "-t", "60", "-l", str(root / "log"), "start", "-o",
               f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c ssl=on -c fsync=off "
               f"-c ssl_cert_file={cert} -c ssl_key_file={key}"], owner)
    pg = Postgres(port=port, db=db, user=user, password=password, datadir=datadir)
    env = {**os.environ, "PGPASSWORD": password}
    deadline = time.monotonic() + 30
    while True:
        proc = subprocess.run(["psql", f"host=127.0.0.1 port={port} user={user} dbname=postgres sslmode=require",
                               "-c", f'CREATE DATABASE "{db}"'], env=env, capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres did not come up: {proc.stderr}")
        time.sleep(0.2)

    def stop() -> None:
        try:
            _as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"], owner)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return pg, stop
