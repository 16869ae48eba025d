"""SQLite storage: one database file and a content-addressed blob folder inside a workspace folder.

Layout of a workspace::

    aethergraph.db             runs, nodes, events (+ full-text index), logs, kv, artifacts, waits
    artifacts/sha256/ab/ab...  blobs, named by their sha256 (first two hex digits, then all 64)
    tmp/                       staging files, renamed into place when complete

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

import asyncio
import contextlib
import errno
import hashlib
import io
import itertools
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from aethergraph.errors import StorageError
from aethergraph.storage import sqlite_schema as schema
from aethergraph.storage.memory import words

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from aethergraph.storage.records import (
        Artifact,
        Event,
        LogEntry,
        NodeRecord,
        RunRecord,
        RunStatus,
        WaitRecord,
        WaitStatus,
    )

__all__ = ["FLUSH_DEADLINE", "SQLiteStorage"]

logger = logging.getLogger(__name__)

FLUSH_DEADLINE = 0.05
"""Seconds within which a write nobody flushed is committed anyway."""

DB_NAME = "aethergraph.db"
PAGE_SIZE = 2048
"""Bytes per database page in a new workspace. Most commits change a page or two of each table
written; halving SQLite's default halves what they write to the WAL, and then to the disk."""
WAL_BACKSTOP = 32 << 20
"""Bytes of WAL at which the writing connection checkpoints itself; see ``_checkpoint``."""
WAL_SIZE_LIMIT = 64 << 20
"""Bytes a WAL file is cut back to when restarted after growing past them (one huge commit)."""
_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_MAX_KEYS = 500  # per statement: well under SQLite's limit on bound parameters


def _select(table: str, columns: Sequence[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


_PUT_RUN = schema.upserts("runs", (*schema.RUN_COLUMNS, "seq"), ("run_id",), keep=("seq",))
_SELECT_RUNS = _select("runs", schema.RUN_COLUMNS)
_GET_RUN = f"{_SELECT_RUNS} WHERE run_id = ?"
_PUT_NODE = schema.upserts("nodes", schema.NODE_COLUMNS, ("run_id", "node_id"))
_LIST_NODES = f"{_select('nodes', schema.NODE_COLUMNS)} WHERE run_id = ? ORDER BY seq"
_APPEND_EVENT = schema.insert("events", schema.EVENT_COLUMNS)
_INDEX_EVENT = "INSERT INTO events_fts (rowid, text, topic, kind, tags) VALUES (?, ?, ?, ?, ?)"
_SELECT_EVENTS = _select("events", schema.EVENT_COLUMNS)
_APPEND_LOG = schema.insert("logs", schema.LOG_COLUMNS)
_LIST_LOGS = f"{_select('logs', schema.LOG_COLUMNS)} WHERE run_id = ? ORDER BY seq LIMIT ?"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_SET_KV = schema.upsert("kv", ("key", "value", "expires_at"), ("key",))
_GET_KV = f"SELECT value, expires_at FROM kv WHERE key = ? AND {_LIVE}"
_DELETE_KV = "DELETE FROM kv WHERE key = ? RETURNING expires_at"
_EXPIRE_KV = f"UPDATE kv SET expires_at = ? WHERE key = ? AND {_LIVE}"
_SCAN_KV = f"SELECT key FROM kv WHERE key >= ? AND {_LIVE} ORDER BY key"
_ADD_ARTIFACT = schema.upsert("artifacts", schema.ARTIFACT_COLUMNS, ("id",))
_SELECT_ARTIFACTS = _select("artifacts", schema.ARTIFACT_COLUMNS)
_GET_ARTIFACT = f"{_SELECT_ARTIFACTS} WHERE id = ?"
_PIN_ARTIFACT = "UPDATE artifacts SET pinned = ? WHERE id = ?"
_PUT_WAIT = schema.upsert("waits", schema.WAIT_COLUMNS, ("wait_id",))
_SELECT_WAITS = _select("waits", schema.WAIT_COLUMNS)
_GET_WAIT = f"{_SELECT_WAITS} WHERE wait_id = ?"
_ACTIVE_RUN_STATUSES = frozenset(schema.ACTIVE_RUN_STATUSES)
_REJECTABLE = (sqlite3.Error, ValueError, TypeError, OverflowError)  # what binding a row may raise
_LOST = (
    "the writes made since the last flush were lost: SQLite rolled them back when a write failed"
)


def _where(clauses: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def _equal(**columns: object) -> tuple[list[str], list[object]]:
    """``column = ?`` clauses and their parameters, for the columns given a value."""
    given = {c: v for c, v in columns.items() if v is not None}
    return [f"{c} = ?" for c in given], list(given.values())


def _marks(n: int) -> str:
    return ", ".join(["?"] * n)


def _describe_run(row: tuple[Any, ...]) -> str:
    return f"run {row[0]!r}"


def _describe_node(row: tuple[Any, ...]) -> str:
    return f"node {row[1]!r} of run {row[0]!r}"


class SQLiteStorage:
    """Every store in one SQLite database plus a blob folder, under one workspace folder.

    Safe for one event loop plus worker threads logging; several processes may share a workspace.
    """

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        self._root = Path(workspace).absolute()
        self._db = self._root / DB_NAME
        self._blobs = self._root / "artifacts" / "sha256"
        self._tmp = self._root / "tmp"
        self._lock = threading.Lock()
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
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
            self._conn = _connect(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the workspace {self._root}: {exc}; "
                "pass a folder this process can create, read and write"
            ) from exc
        self._cur = self._conn.cursor()

    @property
    def location(self) -> str:
        """The workspace folder."""
        return str(self._root)

    # -- transactions ----------------------------------------------------------------------
    # Writes accumulate in one open transaction. ``_uncommitted`` says this object began it; if
    # SQLite rolls it back on its own (a full disk does), those writes are gone although their
    # callers were told nothing: ``_lost`` remembers it until ``flush()`` reports it. Held run and
    # node rows enter the transaction before any other statement runs in it.
    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the storage at {self._root} is closed; open a new SQLiteStorage")

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
        self._check_open()
        if not self._conn.in_transaction:
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
        if not self._conn.in_transaction:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def _exec(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """Run one write statement in the open transaction (with the lock held)."""
        self._begin()
        try:
            return self._cur.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    def _commit(self) -> None:
        runs, nodes = self._held_runs, self._held_nodes
        if runs or nodes:
            if len(runs) + len(nodes) == 1 and not self._conn.in_transaction:
                self._write_alone()
                return
            self._open()
        if self._conn.in_transaction:
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
            if self._uncommitted and not self._conn.in_transaction:
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
        with self._lock:
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

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        with self._lock:
            self._exec(sql, params)

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            self._check_open()
            return self._cur.execute(sql, params).fetchall()

    def _read_held(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Read runs or nodes, the held rows written first so that the read sees them."""
        with self._lock:
            self._check_open()
            if self._held_runs or self._held_nodes:
                self._begin()
            return self._cur.execute(sql, params).fetchall()

    async def flush(self) -> None:
        """Commit every write so far; ``StorageError`` if some were lost or refused."""
        with self._lock:
            if self._closed:
                return
            self._commit_and_report()

    async def close(self) -> None:
        """Commit, stop the deadline timer and close the database; idempotent."""
        with self._lock:
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
                self._conn.close()

    # -- runs ------------------------------------------------------------------------------
    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run record (held until needed in the database)."""
        run_id = record.run_id
        with self._lock:
            self._check_open()
            held = self._held_runs
            prior = held.get(run_id)
            held[run_id] = schema.run_row(record, schema.next_seq() if prior is None else prior[-1])
            if self._timer is None:
                self._arm()

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run record, or ``None``."""
        rows = self._read_held(_GET_RUN, (run_id,))
        return schema.run_record(rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        graph_id: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Matching runs, newest first."""
        clauses, params = _equal(
            status=status, graph_id=graph_id, session_id=session_id, parent_run_id=parent_run_id
        )
        if status in _ACTIVE_RUN_STATUSES:
            clauses.append(schema.ACTIVE_RUNS)  # lets SQLite use the partial index runs_active
        sql = f"{_SELECT_RUNS}{_where(clauses)} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?"
        rows = self._read_held(sql, [*params, max(limit, 0), max(offset, 0)])
        return [schema.run_record(r) for r in rows]

    # -- nodes -----------------------------------------------------------------------------
    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace a node record (held until needed); a replaced node keeps its place."""
        row = schema.node_row(record)
        with self._lock:
            self._check_open()
            self._held_nodes[row[0], row[1]] = row
            if self._timer is None:
                self._arm()

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes in first-stored order."""
        return [schema.node_record(r) for r in self._read_held(_LIST_NODES, (run_id,))]

    # -- events ----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> None:
        """Append one memory event and index its words."""
        row = schema.event_row(event)
        indexed = schema.event_words(event)
        with self._lock:
            seq = self._exec(_APPEND_EVENT, row).lastrowid
            if indexed is not None:
                self._exec(_INDEX_EVENT, (seq, *indexed))

    async def query_events(
        self,
        *,
        scope_id: str | None = None,
        run_id: str | None = None,
        kinds: Sequence[str] | None = None,
        topic: str | None = None,
        tags: Sequence[str] | None = None,
        text: str | None = None,
        limit: int = 50,
    ) -> list[Event]:
        """The newest ``limit`` matching events, oldest first."""
        clauses, params = _equal(scope_id=scope_id, run_id=run_id, topic=topic)
        if kinds:
            clauses.append(f"kind IN ({_marks(len(kinds))})")
            params.extend(kinds)
        for tag in dict.fromkeys(tags or ()):
            clauses.append("EXISTS (SELECT 1 FROM json_each(events.tags) WHERE value = ?)")
            params.append(tag)
        wanted = dict.fromkeys(words(text or ""))
        if wanted:
            # Words are runs of \w characters, so quoting each makes it one literal FTS token.
            clauses.append("seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
            params.append(" ".join(f'"{w}"' for w in wanted))
        sql = f"{_SELECT_EVENTS}{_where(clauses)} ORDER BY seq DESC LIMIT ?"
        rows = self._read(sql, [*params, max(limit, 0)])
        return [schema.event_record(r) for r in reversed(rows)]

    # -- logs ------------------------------------------------------------------------------
    def append_log(self, entry: LogEntry) -> None:
        """Keep one log entry (thread-safe)."""
        self._write(_APPEND_LOG, schema.log_row(entry))

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` log entries."""
        return [schema.log_record(r) for r in self._read(_LIST_LOGS, (run_id, max(limit, 0)))]

    # -- kv --------------------------------------------------------------------------------
    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Live values of the given keys."""
        wanted = list(dict.fromkeys(keys))
        now = time.time()
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _MAX_KEYS):
            chunk = wanted[start : start + _MAX_KEYS]
            sql = f"SELECT key, value FROM kv WHERE key IN ({_marks(len(chunk))}) AND {_LIVE}"
            found.update(self._read(sql, [*chunk, now]))
        return {k: schema.load(found[k]) for k in wanted if k in found}

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set several keys with one expiry."""
        rows = [(key, schema.dump(value), expires_at) for key, value in items.items()]
        if not rows:
            return
        with self._lock:
            self._begin()
            try:
                self._cur.executemany(_SET_KV, rows)
            except sqlite3.OperationalError as exc:
                raise StorageError(f"cannot write to {self._db}: {exc}") from exc

    async def kv_delete(self, key: str) -> bool:
        """Delete a key; whether it was live."""
        with self._lock:
            rows = self._exec(_DELETE_KV, (key,)).fetchall()
        return bool(rows) and (rows[0][0] is None or rows[0][0] > time.time())

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry."""
        with self._lock:
            return self._exec(_EXPIRE_KV, (expires_at, key, time.time())).rowcount > 0

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys with the prefix, sorted."""
        found: list[str] = []
        with self._lock:
            self._check_open()
            # Keys sort by code point, so the keys with the prefix come first from ``prefix`` on.
            with contextlib.closing(self._conn.execute(_SCAN_KV, (prefix, time.time()))) as cur:
                for (key,) in cur:
                    if not key.startswith(prefix):
                        break
                    found.append(key)
        return found

    async def kv_incr(self, key: str, amount: int) -> int:
        """Add to an integer value, atomically: the write lock is held from read to write."""
        with self._lock:
            row = self._exec(_GET_KV, (key, time.time())).fetchone()
            current = schema.load(row[0]) if row is not None else 0
            if not isinstance(current, int) or isinstance(current, bool):
                raise TypeError(f"kv key {key!r} holds {type(current).__name__}, not an integer")
            value = current + amount
            self._exec(_SET_KV, (key, schema.dump(value), None if row is None else row[1]))
        return value

    # -- blobs -----------------------------------------------------------------------------
    def _blob_path(self, sha256: str) -> Path:
        # The digest becomes a path: only a well-formed one may, so it cannot leave the folder.
        if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
            raise ValueError(
                f"{sha256!r} is not a sha256 digest; expected 64 lowercase hex characters"
            )
        return self._blobs / sha256[:2] / sha256

    def _publish(self, staged: Path, sha256: str) -> None:
        """Rename a complete staged file into place as the blob ``sha256``."""
        final = self._blob_path(sha256)
        final.parent.mkdir(exist_ok=True)
        os.replace(staged, final)

    def _stage(self, source: BinaryIO) -> str:
        """Copy ``source`` to a staging file, fsync it and publish it under its digest."""
        staged = self.staging_path(".blob")
        digest = hashlib.sha256()
        try:
            with open(staged, "xb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            self._publish(staged, sha)
        finally:
            staged.unlink(missing_ok=True)
        return sha

    def _put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self._blob_path(sha).exists():
            self._stage(io.BytesIO(data))
        return sha

    def _put_file(self, path: Path, move: bool) -> str:
        with open(path, "rb") as src:
            if not move:
                return self._stage(src)
            sha = hashlib.file_digest(src, "sha256").hexdigest()
            if os.name == "posix":  # Windows cannot fsync a read-only handle.
                os.fsync(src.fileno())
        final = self._blob_path(sha)
        if final.exists():
            if path.resolve() != final.resolve():  # moving a blob onto itself must keep it
                path.unlink()
            return sha
        try:
            self._publish(path, sha)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with open(path, "rb") as src:  # another filesystem: copy, then remove the source
                self._stage(src)
            path.unlink()
        return sha

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        return await asyncio.to_thread(self._put_bytes, bytes(data))

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a file's content under its sha256; ``move`` renames the file into place."""
        return await asyncio.to_thread(self._put_file, Path(path), move)

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        path = self._blob_path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise KeyError(sha256) from None

    async def local_path(self, sha256: str) -> Path:
        """The blob's own file in the workspace."""
        path = self._blob_path(sha256)
        if not path.is_file():
            raise KeyError(sha256)
        return path

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the workspace's ``tmp`` folder."""
        self._tmp.mkdir(exist_ok=True)
        return self._tmp / f"{uuid.uuid4().hex}{suffix}"

    # -- artifacts -------------------------------------------------------------------------
    async def add_artifact(self, artifact: Artifact) -> None:
        """Index an artifact."""
        self._write(_ADD_ARTIFACT, schema.artifact_row(artifact))

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""
        rows = self._read(_GET_ARTIFACT, (artifact_id,))
        return schema.artifact_record(rows[0]) if rows else None

    async def query_artifacts(
        self,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        graph_id: str | None = None,
        node_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        pinned: bool | None = None,
        limit: int = 100,
    ) -> list[Artifact]:
        """Matching artifacts, newest first."""
        clauses, params = _equal(
            run_id=run_id,
            session_id=session_id,
            graph_id=graph_id,
            node_id=node_id,
            kind=kind,
            name=name,
            pinned=pinned,
        )
        sql = f"{_SELECT_ARTIFACTS}{_where(clauses)} ORDER BY created_at DESC, seq DESC"
        if not labels:
            rows = self._read(f"{sql} LIMIT ?", [*params, max(limit, 0)])
            return [schema.artifact_record(r) for r in rows]
        # Labels compare with Python's ==, as in memory: filter here, reading until ``limit``.
        found: list[Artifact] = []
        with self._lock:
            self._check_open()
            with contextlib.closing(self._conn.execute(sql, params)) as cur:
                for row in cur:
                    if len(found) >= limit:
                        break
                    artifact = schema.artifact_record(row)
                    if all(
                        k in artifact.labels and artifact.labels[k] == v for k, v in labels.items()
                    ):
                        found.append(artifact)
        return found

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin an artifact; whether it exists."""
        with self._lock:
            return self._exec(_PIN_ARTIFACT, (pinned, artifact_id)).rowcount > 0

    # -- waits -----------------------------------------------------------------------------
    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait; a replaced wait keeps its place."""
        self._write(_PUT_WAIT, schema.wait_row(record))

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""
        rows = self._read(_GET_WAIT, (wait_id,))
        return schema.wait_record(rows[0]) if rows else None

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, first stored first."""
        clauses, params = _equal(run_id=run_id, status=status)
        rows = self._read(f"{_SELECT_WAITS}{_where(clauses)} ORDER BY seq", params)
        return [schema.wait_record(r) for r in rows]


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
