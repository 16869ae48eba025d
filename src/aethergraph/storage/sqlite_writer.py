"""The writing connection of a SQLite workspace: one open transaction, held rows, checkpoints.

Writes are committed by ``flush()``, or by a timer at most ``FLUSH_DEADLINE`` seconds after the
first uncommitted write: a burst of writes between two acknowledgements costs one commit. Run and
node records, which the runtime stores several times over a short life, wait in memory, the latest
version per key, until something needs them in the database: a commit, a read of them, or any other
write. A run that starts and ends between two commits is thus written once. Run events and log
entries, appended from any thread on the hot path, wait in memory the same way, and go in with one
``executemany``. Every other write runs at once inside the open transaction. A write that fails is
reported by the call that ran it (for a held row: the one that wrote it into the database,
``flush()`` most often), and a held row that SQLite refused (a NULL where none may be, a taken key)
by the next ``flush()``.

Several processes may share a workspace; SQLite's WAL mode lets them read while one writes. Waiting
for another writer must not block the event loop, so ``call`` runs an operation on the loop only
while nothing makes it wait: the connection's lock is free, and SQLite answers at once (its busy
timeout is zero there). Otherwise the operation runs again in a worker thread, which waits for the
lock and then for SQLite up to ``BUSY_TIMEOUT``. Running it again is safe: an operation meets
``SQLITE_BUSY`` only where it first needs SQLite's write lock (``BEGIN IMMEDIATE``, or a lone
statement), before it changed anything; every later statement of the transaction holds that lock.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aethergraph.errors import StorageError
from aethergraph.storage import sqlite_schema as schema
from aethergraph.storage.json_rows import micros
from aethergraph.storage.records import RunStatus
from aethergraph.storage.sqlite_events import write_pages
from aethergraph.storage.sqlite_rows import log_row, run_row
from aethergraph.storage.sqlite_wal import Checkpointer, connect

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable, Sequence
    from pathlib import Path

    from aethergraph.storage.records import LogEntry, NodeRecord, RunEvent, RunRecord

__all__ = ["BUSY_TIMEOUT", "FLUSH_DEADLINE", "PUT_RUN", "REJECTABLE", "Writer", "is_busy"]

logger = logging.getLogger(__name__)

FLUSH_DEADLINE = 0.05
"""Seconds within which a write nobody flushed is committed anyway."""
BUSY_TIMEOUT = 10.0
"""Seconds a worker thread waits for another process's write transaction before giving up."""

T = TypeVar("T")
P = ParamSpec("P")

PUT_RUN = schema.upserts("runs", (*schema.RUN_COLUMNS, "seq"), ("run_id",), keep=("seq",))
_PUT_NODE = schema.upserts("nodes", schema.NODE_COLUMNS, ("run_id", "node_id"))
_APPEND_LOG = schema.insert("logs", schema.LOG_COLUMNS)
REJECTABLE = (sqlite3.Error, ValueError, TypeError, OverflowError)  # what binding a row may raise
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_FINAL = frozenset(s.value for s in RunStatus if s.is_terminal)
_LOST = (
    "the writes made since the last flush were lost: SQLite rolled them back when a write failed"
)


def _describe_run(row: tuple[Any, ...]) -> str:
    return f"run {row[0]!r}"


def _describe_node(row: tuple[Any, ...]) -> str:
    return f"node {row[1]!r} of run {row[0]!r}"


def _describe_log(row: tuple[Any, ...]) -> str:
    return f"log entry of run {row[0]!r}"


def _node_row(held: tuple[Any, ...]) -> tuple[Any, ...]:
    """A held node's row: as held, or made for a node held as started (``hold_running``)."""
    if len(held) != 2:
        return held
    record, inputs = held
    # Only fields a record keeps from its start: the loop may be ending the node meanwhile.
    return (
        record.run_id,
        record.node_id,
        record.tool,
        "running",
        inputs,
        None,
        record.attempts,
        record.started_at,
        None,
    )


def is_busy(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or the SQLite error it wraps) says another connection holds a lock."""
    if isinstance(exc, StorageError):
        exc = exc.__cause__
    return isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF in _BUSY


class Writer:
    """The one connection a ``SQLiteStorage`` reads and writes through, and its open transaction.

    Reads go through it too, under ``lock``, so that they see the writes not yet committed. The
    methods that use the connection expect ``lock`` held: run them through ``call``.
    """

    def __init__(self, db: Path) -> None:
        self._db = db
        self.lock = threading.Lock()
        self._closed = False
        self._uncommitted = False
        self._lost = False
        # Rows not yet in the database, and the deadline timer, under ``_held_lock``: holding a
        # row never waits for ``lock``, which a thread waiting for another process may hold.
        self._held_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._held_runs: dict[str, tuple[Any, ...]] = {}
        self._held_nodes: dict[tuple[str, str], tuple[Any, ...]] = {}
        # Per run, its held events flat: seq, ts (``micros``), type, data, seq, ... One list per
        # run and no object per event that the garbage collector would go through again and
        # again while a large fan-out runs.
        self._held_events: dict[str, list[Any]] = {}
        self._held_logs: list[tuple[Any, ...]] = []
        self._refused: list[str] = []
        # The runs whose final record is held, then written into the open transaction: once it
        # is committed the step log may drop their steps.
        self._held_ended: set[str] = set()
        self._writing_ended: set[str] = set()
        self.after_commit: Callable[[set[str]], None] | None = None
        """Called after each commit that landed, with the runs whose final record it held."""
        self.conn = connect(db, BUSY_TIMEOUT)
        self._checkpointer = Checkpointer(db)
        self._cur = self.conn.cursor()

    # -- running operations ----------------------------------------------------------------
    async def call(self, op: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``op(...)`` with ``lock`` held: on the loop if nothing waits, else in a worker thread."""
        if self.lock.acquire(False):
            try:
                return op(*args, **kwargs)
            except (StorageError, sqlite3.OperationalError) as exc:
                if not is_busy(exc):
                    raise
            finally:
                self.lock.release()
        return await asyncio.to_thread(self.call_waiting, functools.partial(op, *args, **kwargs))

    def call_waiting(self, op: Callable[[], T]) -> T:
        """``op()`` with ``lock`` held, waiting for it, then for SQLite up to ``BUSY_TIMEOUT``."""
        with self.lock:
            self.check_open()
            # fetchall: a PRAGMA's row left unread keeps its statement active, and close waiting.
            self._cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}").fetchall()
            try:
                return op()
            finally:
                if not self._closed:
                    self._cur.execute("PRAGMA busy_timeout = 0").fetchall()

    # -- held rows -------------------------------------------------------------------------
    def hold_run(self, record: RunRecord) -> None:
        """Hold a run's row until needed in the database; a replaced run keeps its ``seq``."""
        run_id = record.run_id
        final = record.status._value_ in _FINAL
        with self._held_lock:
            self.check_open()
            held = self._held_runs
            prior = held.get(run_id)
            held[run_id] = run_row(record, schema.next_seq() if prior is None else prior[-1])
            if final:
                self._held_ended.add(run_id)
            if self._timer is None:
                self._arm()

    def hold_node(self, row: tuple[Any, ...]) -> None:
        """Hold a node's row (``node_row``) until needed in the database."""
        with self._held_lock:
            if self._closed:
                self.check_open()
            self._held_nodes[row[0], row[1]] = row
            if self._timer is None:
                self._arm()

    def hold_running(self, record: NodeRecord, inputs: str) -> None:
        """Hold the row of a node that just started (``inputs``: its inputs as JSON).

        The row itself is made only if it is written before the node's next row replaces it
        (most nodes end first), and then from what a node's record never changes.
        """
        with self._held_lock:
            if self._closed:
                self.check_open()
            self._held_nodes[record.run_id, record.node_id] = (record, inputs)
            if self._timer is None:
                self._arm()

    def hold_run_event(self, event: RunEvent) -> None:
        """Hold a run event until needed in the database (thread-safe); encoded at the commit."""
        values = (event.seq, micros(event.ts), event.type, event.data)
        with self._held_lock:
            if self._closed:
                self.check_open()
            held = self._held_events.get(event.run_id)
            if held is None:
                self._held_events[event.run_id] = list(values)
            else:
                held += values
            if self._timer is None:
                self._arm()

    def hold_log(self, entry: LogEntry) -> None:
        """Hold a log entry's row until needed in the database (thread-safe)."""
        row = log_row(entry)
        with self._held_lock:
            self.check_open()
            self._held_logs.append(row)
            if self._timer is None:
                self._arm()

    def _holds(self) -> bool:
        return bool(self._held_runs or self._held_nodes or self._held_events or self._held_logs)

    # -- transactions ----------------------------------------------------------------------
    # Writes accumulate in one open transaction. ``_uncommitted`` says this object began it; if
    # SQLite rolls it back on its own (a full disk does), those writes are gone although their
    # callers were told nothing: ``_lost`` remembers it until ``flush()`` reports it. Held rows
    # enter the transaction before any other statement runs in it.
    def check_open(self) -> None:
        """Raise ``StorageError`` once closed: nothing may use the connection after ``close()``."""
        if self._closed:
            raise StorageError(
                f"the storage at {self._db.parent} is closed; open a new SQLiteStorage"
            )

    def _arm(self) -> None:
        """Start the deadline commit's timer (``_held_lock`` held, no timer pending)."""
        timer = threading.Timer(FLUSH_DEADLINE, self._commit_by_deadline)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def begin(self) -> None:
        """Open the write transaction unless one is open; make sure a deadline commit is pending."""
        self._open()
        if self._timer is None:
            with self._held_lock:
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
        if self._holds():
            self._write_held()

    def _write_held(self) -> None:
        with self._held_lock:
            runs, nodes = self._held_runs, self._held_nodes
            events, logs = self._held_events, self._held_logs
            self._held_runs, self._held_nodes, self._held_events, self._held_logs = {}, {}, {}, []
            if self._held_ended:
                self._writing_ended |= self._held_ended
                self._held_ended = set()
        if runs:
            self._write_rows(PUT_RUN, list(runs.values()), _describe_run)
        if nodes:
            self._write_rows(_PUT_NODE, list(map(_node_row, nodes.values())), _describe_node)
        if events:
            write_pages(self._cur, events, self._refused, self._raise_if_rolled_back)
        if logs:
            self._insert_rows(_APPEND_LOG, logs, _describe_log)

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
        except REJECTABLE as exc:
            self._raise_if_rolled_back(exc)
        for row in rows:  # upserts are idempotent: writing again the rows that went in is harmless
            try:
                self._cur.execute(upserts[len(row)], row)
            except REJECTABLE as exc:
                self._raise_if_rolled_back(exc)
                self._refused.append(f"{describe(row)}: {exc}")

    def _insert_rows(
        self, sql: str, rows: list[tuple[Any, ...]], describe: Callable[[tuple[Any, ...]], str]
    ) -> None:
        """Insert rows in order; go on past rows SQLite refuses, noting them for ``flush()``."""
        while rows:
            before = self.conn.total_changes
            try:
                self._cur.executemany(sql, rows)
                return
            except REJECTABLE as exc:
                self._raise_if_rolled_back(exc)
                # executemany stops at the refused row, each row before it inserted: skip it.
                done = self.conn.total_changes - before
                self._refused.append(f"{describe(rows[done])}: {exc}")
                rows = rows[done + 1 :]

    def _write_alone(self) -> None:
        """Commit the one held row, the only write since the last commit, in one statement."""
        if self._uncommitted:
            self._lost = True  # SQLite rolled back the transaction this object began
        with self._held_lock:
            if self._held_runs:
                held: dict[Any, tuple[Any, ...]] = self._held_runs
                upserts, describe = PUT_RUN, _describe_run
            else:
                held, upserts, describe = self._held_nodes, _PUT_NODE, _describe_node
            key, row = held.popitem()
            if key in self._held_ended:
                self._held_ended.discard(key)
                self._writing_ended.add(key)
        row = _node_row(row)
        self._uncommitted = True
        try:
            # SQLite's own transaction: no BEGIN and COMMIT to run.
            self._cur.execute(upserts[len(row)], row)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                with self._held_lock:
                    held.setdefault(key, row)  # never written: the next commit retries
                self._uncommitted = False
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc
        except REJECTABLE as exc:
            self._refused.append(f"{describe(row)}: {exc}")
        self._uncommitted = False

    def _raise_if_rolled_back(self, exc: Exception) -> None:
        if not self.conn.in_transaction:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def commit(self) -> None:
        """Commit the open transaction and the held rows."""
        self._commit()
        ended, self._writing_ended = self._writing_ended, set()
        if self._lost:
            return  # the final records went with what SQLite rolled back: their steps stay
        if ended and self.after_commit is not None:
            self.after_commit(ended)

    def _commit(self) -> None:
        alone = len(self._held_runs) + len(self._held_nodes) == 1
        if alone and not (self._held_events or self._held_logs or self.conn.in_transaction):
            self._write_alone()
            return
        if self._holds():
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
            self.commit()
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
        with self._held_lock:
            self._timer = None
        try:
            self.call_waiting(self.commit)
        except StorageError:
            if not self._closed:
                logger.warning(
                    "could not commit pending writes; the next flush retries",
                    exc_info=True,
                    extra={"database": str(self._db)},
                )
        if not self._closed:
            self._checkpointer.run()

    # -- statements, flush and close -------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """Run one write statement in the open transaction."""
        self.begin()
        try:
            return self._cur.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one write statement once per row in the open transaction."""
        self.begin()
        try:
            self._cur.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one query, committed or not."""
        self.check_open()
        return self._cur.execute(sql, params).fetchall()

    def query_held(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one query, the held rows written first so that it sees them."""
        self.check_open()
        if self._held_runs or self._held_nodes or self._held_events or self._held_logs:
            self.begin()
        return self._cur.execute(sql, params).fetchall()

    # Plain functions returning ``call``'s coroutine: one coroutine fewer per read or write.
    def write(self, sql: str, params: Sequence[Any]) -> Coroutine[Any, Any, Any]:
        """Run one write statement in the open transaction."""
        return self.call(self.execute, sql, params)

    def read(self, sql: str, params: Sequence[Any]) -> Coroutine[Any, Any, list[Any]]:
        """The rows of one query, committed or not."""
        return self.call(self.query, sql, params)

    def read_held(self, sql: str, params: Sequence[Any]) -> Coroutine[Any, Any, list[Any]]:
        """The rows of one query of runs, nodes, run events or logs, held ones included."""
        return self.call(self.query_held, sql, params)

    def flush(self) -> Coroutine[Any, Any, None]:
        """Commit every write so far; ``StorageError`` if some were lost or refused."""
        return self.call(self._flush)

    def _flush(self) -> None:
        if not self._closed:
            self._commit_and_report()

    async def close(self) -> None:
        """Commit, stop the deadline timer and close the database; idempotent."""
        if not self._closed:  # in a thread, which waits: the connection is closed whatever happens
            await asyncio.to_thread(self.call_waiting, self._close)

    def _close(self) -> None:
        if self._closed:
            return
        try:
            self._commit_and_report()
        finally:
            with self._held_lock:
                self._closed = True
                self._held_runs.clear()
                self._held_nodes.clear()
                self._held_events.clear()
                self._held_logs.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            self._checkpointer.close()
            self.conn.close()
