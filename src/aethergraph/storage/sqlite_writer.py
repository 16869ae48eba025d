"""The writing connection of a SQLite workspace: one open transaction, held rows, checkpoints.

Writes are committed by ``flush()``, or by a timer at most ``FLUSH_DEADLINE`` seconds after the
first uncommitted write: a burst of writes between two acknowledgements costs one commit. Run and
node records, which the runtime stores several times over a short life, wait in memory, the latest
version per key, until something needs them in the database: a commit, a read of runs or nodes, or
any other write. A run that starts and ends between two commits is thus written once. Every other
write runs at once inside the open transaction. A write that fails is reported by the call that
ran it (for a held record: the one that wrote it into the database, ``flush()`` most often), and a
held record that SQLite refused (a NULL where none may be, say) by the next ``flush()``. Several
processes may share a workspace; SQLite's WAL mode lets them read while one writes, and
``busy_timeout`` makes writers queue rather than fail.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage import sqlite_schema as schema
from aethergraph.storage.sqlite_rows import node_row, run_row

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from aethergraph.storage.records import NodeRecord, RunRecord

__all__ = ["FLUSH_DEADLINE", "Writer"]

logger = logging.getLogger(__name__)

FLUSH_DEADLINE = 0.05
"""Seconds within which a write nobody flushed is committed anyway."""

PAGE_SIZE = 2048
"""Bytes per database page in a new workspace. Most commits change a page or two of each table
written; halving SQLite's default halves what they write to the WAL, and then to the disk."""
WAL_BACKSTOP = 32 << 20
"""Bytes of WAL at which the writing connection checkpoints itself; see ``_checkpoint``."""
WAL_SIZE_LIMIT = 64 << 20
"""Bytes a WAL file is cut back to when restarted after growing past them (one huge commit)."""

_PUT_RUN = schema.upserts("runs", (*schema.RUN_COLUMNS, "seq"), ("run_id",), keep=("seq",))
_PUT_NODE = schema.upserts("nodes", schema.NODE_COLUMNS, ("run_id", "node_id"))
_REJECTABLE = (sqlite3.Error, ValueError, TypeError, OverflowError)  # what binding a row may raise
_LOST = (
    "the writes made since the last flush were lost: SQLite rolled them back when a write failed"
)


def _describe_run(row: tuple[Any, ...]) -> str:
    return f"run {row[0]!r}"


def _describe_node(row: tuple[Any, ...]) -> str:
    return f"node {row[1]!r} of run {row[0]!r}"


class Writer:
    """The one connection a ``SQLiteStorage`` reads and writes through, and its open transaction.

    Reads go through it too, under ``lock``, so that they see the writes not yet committed.
    """

    def __init__(self, db: Path) -> None:
        self._db = db
        self.lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self._uncommitted = False
        self._lost = False
        # Run and node rows not yet in the database, by key, and what SQLite refused of them.
        self._held_runs: dict[str, tuple[Any, ...]] = {}
        self._held_nodes: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._refused: list[str] = []
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: sqlite3.Connection | None = None
        self.conn = _connect(db)
        self._cur = self.conn.cursor()

    # -- held rows -------------------------------------------------------------------------
    def hold_run(self, record: RunRecord) -> None:
        """Hold a run's row until needed in the database; a replaced run keeps its ``seq``."""
        run_id = record.run_id
        with self.lock:
            self.check_open()
            held = self._held_runs
            prior = held.get(run_id)
            held[run_id] = run_row(record, schema.next_seq() if prior is None else prior[-1])
            if self._timer is None:
                self._arm()

    def hold_node(self, record: NodeRecord) -> None:
        """Hold a node's row until needed in the database."""
        row = node_row(record)
        with self.lock:
            self.check_open()
            self._held_nodes[row[0], row[1]] = row
            if self._timer is None:
                self._arm()

    # -- transactions ----------------------------------------------------------------------
    # Writes accumulate in one open transaction. ``_uncommitted`` says this object began it; if
    # SQLite rolls it back on its own (a full disk does), those writes are gone although their
    # callers were told nothing: ``_lost`` remembers it until ``flush()`` reports it. Held run and
    # node rows enter the transaction before any other statement runs in it.
    def check_open(self) -> None:
        """Raise ``StorageError`` once closed: nothing may use the connection after ``close()``."""
        if self._closed:
            raise StorageError(
                f"the storage at {self._db.parent} is closed; open a new SQLiteStorage"
            )

    def _arm(self) -> None:
        """Make sure a deadline commit is pending."""
        if self._timer is None:
            timer = threading.Timer(FLUSH_DEADLINE, self._commit_by_deadline)
            timer.daemon = True
            timer.start()
            self._timer = timer

    def _begin(self) -> None:
        """Open the write transaction unless one is open; make sure a deadline commit is pending."""
        self._open()
        if self._timer is None:
            self._arm()

    def _open(self) -> None:
        """Open the write transaction unless one is open, and write the held rows into it."""
        self.check_open()
        if not self.conn.in_transaction:
            if self._uncommitted:
                self._lost = True
            try:
                self._cur.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(f"cannot write to {self._db}: {exc}") from exc
            self._uncommitted = True
        if self._held_runs or self._held_nodes:
            self._write_held()

    def _write_held(self) -> None:
        runs, nodes = self._held_runs, self._held_nodes
        self._held_runs, self._held_nodes = {}, {}
        if runs:
            self._write_rows(_PUT_RUN, list(runs.values()), _describe_run)
        if nodes:
            self._write_rows(_PUT_NODE, list(nodes.values()), _describe_node)

    def _write_rows(
        self,
        upserts: dict[int, str],
        rows: list[tuple[Any, ...]],
        describe: Callable[[tuple[Any, ...]], str],
    ) -> None:
        """Upsert rows in order; go on past rows SQLite refuses, noting them for ``flush()``."""
        try:
            if len(rows) == 1:
                self._cur.execute(upserts[len(rows[0])], rows[0])
            else:  # one executemany per stretch of rows of one shape, keeping their order
                for size, group in itertools.groupby(rows, len):
                    self._cur.executemany(upserts[size], group)
            return
        except _REJECTABLE as exc:
            self._raise_if_rolled_back(exc)
        for row in rows:  # upserts are idempotent: writing again the rows that went in is harmless
            try:
                self._cur.execute(upserts[len(row)], row)
            except _REJECTABLE as exc:
                self._raise_if_rolled_back(exc)
                self._refused.append(f"{describe(row)}: {exc}")

    def _write_alone(self) -> None:
        """Commit the one held row, the only write since the last commit, in one statement."""
        if self._uncommitted:
            self._lost = True  # SQLite rolled back the transaction this object began
        if self._held_runs:
            held: dict[Any, tuple[Any, ...]] = self._held_runs
            upserts, describe = _PUT_RUN, _describe_run
        else:
            held, upserts, describe = self._held_nodes, _PUT_NODE, _describe_node
        key, row = held.popitem()
        self._uncommitted = True
        try:
            # SQLite's own transaction: no BEGIN and COMMIT to run.
            self._cur.execute(upserts[len(row)], row)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                held[key] = row  # never written: the next commit retries
                self._uncommitted = False
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc
        except _REJECTABLE as exc:
            self._refused.append(f"{describe(row)}: {exc}")
        self._uncommitted = False

    def _raise_if_rolled_back(self, exc: Exception) -> None:
        if not self.conn.in_transaction:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """Run one write statement in the open transaction (with the lock held)."""
        self._begin()
        try:
            return self._cur.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def _commit(self) -> None:
        runs, nodes = self._held_runs, self._held_nodes
        if runs or nodes:
            if len(runs) + len(nodes) == 1 and not self.conn.in_transaction:
                self._write_alone()
                return
            self._open()
        if self.conn.in_transaction:
            try:
                self._cur.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StorageError(f"cannot commit to {self._db}: {exc}") from exc
        elif self._uncommitted:
            self._lost = True
        self._uncommitted = False

    def _commit_and_report(self) -> None:
        """Commit, then raise for writes lost or refused since the last report."""
        try:
            self._commit()
        except StorageError as exc:
            if self._uncommitted and not self.conn.in_transaction:
                self._uncommitted = self._lost = False  # reported here, once
                raise StorageError(f"{exc}; {_LOST}, make them again") from exc
            raise
        if self._lost:
            self._lost = False
            raise StorageError(
                f"writes to {self._db} made since the last flush were lost: SQLite rolled them "
                "back when a write failed (see that write's error); make them again"
            )
        if self._refused:
            refused, self._refused = self._refused, []
            raise StorageError(f"SQLite refused to store {'; '.join(refused)}")

    def _commit_by_deadline(self) -> None:
        with self.lock:
            self._timer = None
            if self._closed:
                return
            try:
                self._commit()
            except StorageError:
                logger.warning(
                    "could not commit pending writes; the next flush retries",
                    exc_info=True,
                    extra={"database": str(self._db)},
                )
        self._checkpoint()

    # -- checkpoints -----------------------------------------------------------------------
    # A checkpoint copies committed pages from the WAL into the database file and syncs both; the
    # syncs make it cost milliseconds. Left to the writing connection, it would stall a commit
    # every few hundred; instead the deadline timer's thread runs one (PASSIVE: it never blocks a
    # reader or a writer) on a connection of its own after each deadline, while the writing
    # connection checkpoints only as a backstop, when the WAL holds ``WAL_BACKSTOP`` bytes: only
    # it can restart the WAL from the beginning, and only once every page in it is checkpointed.
    def _checkpoint(self) -> None:
        if not self._checkpoint_lock.acquire(blocking=False):
            return  # the previous deadline's checkpoint is still running
        try:
            if self._closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self._db, check_same_thread=False, isolation_level=None
                )
                self._checkpointer.execute("PRAGMA temp_store = MEMORY")
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.debug("checkpoint failed; the next one retries", exc_info=True)
        finally:
            self._checkpoint_lock.release()

    def _close_checkpointer(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None

    # -- statements, flush and close -------------------------------------------------------
    def write(self, sql: str, params: Sequence[Any]) -> None:
        """Run one write statement in the open transaction."""
        with self.lock:
            self.execute(sql, params)

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one write statement once per row in the open transaction."""
        with self.lock:
            self._begin()
            try:
                self._cur.executemany(sql, rows)
            except sqlite3.OperationalError as exc:
                raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one query, committed or not."""
        with self.lock:
            self.check_open()
            return self._cur.execute(sql, params).fetchall()

    def read_held(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Read runs or nodes, the held rows written first so that the read sees them."""
        with self.lock:
            self.check_open()
            if self._held_runs or self._held_nodes:
                self._begin()
            return self._cur.execute(sql, params).fetchall()

    def flush(self) -> None:
        """Commit every write so far; ``StorageError`` if some were lost or refused."""
        with self.lock:
            if self._closed:
                return
            self._commit_and_report()

    def close(self) -> None:
        """Commit, stop the deadline timer and close the database; idempotent."""
        with self.lock:
            if self._closed:
                return
            try:
                self._commit_and_report()
            finally:
                self._closed = True
                self._held_runs.clear()
                self._held_nodes.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._close_checkpointer()
                self.conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    """Open the database in WAL mode and bring its schema to ``SCHEMA_VERSION``."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op unless the database is new
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP // page_size}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA temp_store = MEMORY")  # no temporary files outside the workspace
        schema.migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
