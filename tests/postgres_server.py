"""A throwaway PostgreSQL 15 server for the test session (the ``postgres_dsn`` fixture).

initdb into a temp folder (as the postgres user when the tests run as root), listening on
127.0.0.1 at a free port, stopped by pg_ctl at the end. Without PostgreSQL or asyncpg the tests
that need it skip, except under CI=true, where that fails: CI installs both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(*command: str | Path) -> list[str]:
    """``command`` run as the postgres user when this is root (initdb refuses root)."""
    argv = [str(c) for c in command]
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL 15 server for the session; skips (fails under CI) without one."""
    missing = None
    if not (PG_BIN / "initdb").exists():
        missing = (
            f"PostgreSQL 15 is not installed (no {PG_BIN}/initdb): "
            "apt-get install postgresql-15 to run the PostgreSQL conformance suite"
        )
    elif importlib.util.find_spec("asyncpg") is None:
        missing = "asyncpg is not installed: pip install -e '.[postgres]'"
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)  # CI installs both: a skip there would hide a broken backend
        pytest.skip(missing)
    folder = Path(tempfile.mkdtemp(prefix="aethergraph-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    subprocess.run(
        _as_postgres(PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"),
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {folder} -F"
    subprocess.run(
        _as_postgres(
            PG_BIN / "pg_ctl", "-D", data, "-l", folder / "log", "-o", options, "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(
                _as_postgres(PG_BIN / "pg_ctl", "-D", data, "stop", "-m", "fast"),
                check=True,
                capture_output=True,
            )
        shutil.rmtree(folder, ignore_errors=True)
