"""The WAL of a SQLite workspace: the settings of the writing connection, and checkpoints.

A checkpoint copies committed pages from the WAL into the database file and syncs both; the syncs
make it cost milliseconds. Left to the writing connection, it would stall a commit every few
hundred; instead the deadline timer's thread runs one (PASSIVE: it never blocks a reader or a
writer) on a connection of its own after each deadline, while the writing connection checkpoints
only as a backstop, when the WAL holds ``WAL_BACKSTOP`` bytes: only it can restart the WAL from the
beginning, and only once every page in it is checkpointed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from aethergraph.storage import sqlite_schema as schema

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PAGE_SIZE", "WAL_BACKSTOP", "WAL_SIZE_LIMIT", "Checkpointer", "connect"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 2048
"""Bytes per database page in a new workspace. Most commits change a page or two of each table
written; halving SQLite's default halves what they write to the WAL, and then to the disk."""
WAL_BACKSTOP = 32 << 20
"""Bytes of WAL at which the writing connection checkpoints itself; see the module docstring."""
WAL_SIZE_LIMIT = 64 << 20
"""Bytes a WAL file is cut back to when restarted after growing past them (one huge commit)."""


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open the database in WAL mode, bring its schema to ``SCHEMA_VERSION``, never wait after.

    Opening waits up to ``busy_timeout`` seconds for other processes (one may be creating or
    migrating it: switching a new database to WAL reports "locked" at once instead of waiting,
    so the whole opening is tried again); afterwards the busy timeout is zero, and the caller
    decides when to wait.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            return _connect_once(path, busy_timeout)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)  # only while another process creates the workspace, once per process
        delay = min(delay * 2, 0.1)


def _connect_once(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout, check_same_thread=False, isolation_level=None
    )
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op unless the database is new
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP // page_size}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA temp_store = MEMORY")  # no temporary files outside the workspace
        schema.migrate(conn, path)
        conn.execute("PRAGMA busy_timeout = 0")
    except BaseException:
        conn.close()
        raise
    return conn


class Checkpointer:
    """A connection of its own that checkpoints the WAL when asked, never waiting for another."""

    def __init__(self, db: Path) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def run(self) -> None:
        """Checkpoint what no reader still needs, unless a checkpoint is running already."""
        if not self._lock.acquire(blocking=False):
            return  # the previous deadline's checkpoint is still running
        try:
            if self._closed:
                return
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self._db, check_same_thread=False, isolation_level=None
                )
                self._conn.execute("PRAGMA temp_store = MEMORY")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.debug("checkpoint failed; the next one retries", exc_info=True)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the connection; ``run`` does nothing afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
