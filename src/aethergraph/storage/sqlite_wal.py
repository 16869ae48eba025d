"""Checkpoints of a SQLite workspace's WAL, off the writing connection.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Checkpointer"]

logger = logging.getLogger(__name__)


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
