"""SQLite storage: one database file and a content-addressed blob folder inside a workspace folder.

Layout of a workspace::

    aethergraph.db             runs, run events, nodes, memory events (+ full-text index), logs,
                               kv, artifacts, waits, owners' heartbeats, run signals
    artifacts/sha256/ab/ab...  blobs, named by their sha256 (first two hex digits, then all 64)
    tmp/                       staging files, renamed into place when complete

Writes are committed by ``flush()``, or by a timer at most ``FLUSH_DEADLINE`` seconds after the
first uncommitted write; run and node records, run events and log entries wait in memory until
something needs them in the database (``sqlite_writer`` tells the whole story). Several processes
may share a workspace.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage import sqlite_schema as schema
from aethergraph.storage.blob_access import BlobAccess
from aethergraph.storage.blob_folder import BlobFolder
from aethergraph.storage.records import words
from aethergraph.storage.sqlite_rows import (
    artifact_record,
    artifact_row,
    dump,
    event_record,
    event_row,
    event_words,
    load,
    log_record,
    wait_record,
    wait_row,
)
from aethergraph.storage.sqlite_runs import MAX_KEYS, SQLiteRuns, marks, select, where_equal
from aethergraph.storage.sqlite_steplog import StepLog
from aethergraph.storage.sqlite_writer import FLUSH_DEADLINE, Writer

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

    from aethergraph.storage.records import (
        Artifact,
        Event,
        LogEntry,
        WaitRecord,
        WaitStatus,
    )

__all__ = ["FLUSH_DEADLINE", "SQLiteStorage"]

DB_NAME = "aethergraph.db"

_APPEND_EVENT = schema.insert("events", schema.EVENT_COLUMNS)
_INDEX_EVENT = "INSERT INTO events_fts (rowid, text, topic, kind, tags) VALUES (?, ?, ?, ?, ?)"
_SELECT_EVENTS = select("events", schema.EVENT_COLUMNS)
_LIST_LOGS = f"{select('logs', schema.LOG_COLUMNS)} WHERE run_id = ? ORDER BY seq LIMIT ?"
_LIVE = "(expires_at IS NULL OR expires_at > ?)"
_SET_KV = schema.upsert("kv", ("key", "value", "expires_at"), ("key",))
_GET_KV = f"SELECT value, expires_at FROM kv WHERE key = ? AND {_LIVE}"
_DELETE_KV = "DELETE FROM kv WHERE key = ? RETURNING expires_at"
_EXPIRE_KV = f"UPDATE kv SET expires_at = ? WHERE key = ? AND {_LIVE}"
_SCAN_KV = f"SELECT key FROM kv WHERE key >= ? AND {_LIVE} ORDER BY key"
_ADD_ARTIFACT = schema.upsert("artifacts", schema.ARTIFACT_COLUMNS, ("id",))
_SELECT_ARTIFACTS = select("artifacts", schema.ARTIFACT_COLUMNS)
_GET_ARTIFACT = f"{_SELECT_ARTIFACTS} WHERE id = ?"
_PIN_ARTIFACT = "UPDATE artifacts SET pinned = ? WHERE id = ?"
_PUT_WAIT = schema.upsert("waits", schema.WAIT_COLUMNS, ("wait_id",))
_SELECT_WAITS = select("waits", schema.WAIT_COLUMNS)
_GET_WAIT = f"{_SELECT_WAITS} WHERE wait_id = ?"


def _where(clauses: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


class SQLiteStorage(BlobAccess, SQLiteRuns):
    """Every store in one SQLite database plus a blob folder, under one workspace folder.

    Safe for one event loop plus worker threads logging; several processes may share a workspace.
    """

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        self._root = Path(workspace).absolute()
        try:
            self._blobs = BlobFolder(self._root)
            self._writer = Writer(self._root / DB_NAME)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the workspace {self._root}: {exc}; "
                "pass a folder this process can create, read and write"
            ) from exc
        # Reads that walk a cursor run on the writer's connection, under its lock.
        self._conn = self._writer.conn
        self._steps = StepLog(self._root, self._final_runs)
        self._inputs_text = {}
        self._writer.after_commit = self._steps.committed
        if (self._root / "journal").is_dir():  # steps left by processes that died
            self._writer.call_waiting(self._steps.sweep)

    @property
    def blobs(self) -> BlobFolder:
        """The workspace's blob folder."""
        return self._blobs

    @property
    def location(self) -> str:
        """The workspace folder."""
        return str(self._root)

    async def flush(self) -> None:
        """Commit every write so far; ``StorageError`` if some were lost or refused."""
        await self._writer.flush()

    async def close(self) -> None:
        """Commit, stop the deadline timer and close the database; idempotent."""
        await self._writer.close()
        self._steps.close()

    # -- events ----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> None:
        """Append one memory event and index its words."""
        row = event_row(event)
        indexed = event_words(event)
        writer = self._writer

        def append() -> None:
            seq = writer.execute(_APPEND_EVENT, row).lastrowid
            if indexed is not None:
                writer.execute(_INDEX_EVENT, (seq, *indexed))

        await writer.call(append)

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
        clauses, params = where_equal(scope_id=scope_id, run_id=run_id, topic=topic)
        if kinds:
            clauses.append(f"kind IN ({marks(len(kinds))})")
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
        rows = await self._writer.read(sql, [*params, max(limit, 0)])
        return [event_record(r) for r in reversed(rows)]

    # -- logs ------------------------------------------------------------------------------
    def append_log(self, entry: LogEntry) -> None:
        """Keep one log entry (thread-safe; held until needed in the database)."""
        self._writer.hold_log(entry)

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` log entries."""
        rows = await self._writer.read_held(_LIST_LOGS, (run_id, max(limit, 0)))
        return [log_record(r) for r in rows]

    # -- kv --------------------------------------------------------------------------------
    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Live values of the given keys."""
        wanted = list(dict.fromkeys(keys))
        now = time.time()
        found: dict[str, str] = {}
        for start in range(0, len(wanted), MAX_KEYS):
            chunk = wanted[start : start + MAX_KEYS]
            sql = f"SELECT key, value FROM kv WHERE key IN ({marks(len(chunk))}) AND {_LIVE}"
            found.update(await self._writer.read(sql, [*chunk, now]))
        return {k: load(found[k]) for k in wanted if k in found}

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set several keys with one expiry."""
        rows = [(key, dump(value), expires_at) for key, value in items.items()]
        if not rows:
            return
        await self._writer.call(self._writer.execute_many, _SET_KV, rows)

    async def kv_delete(self, key: str) -> bool:
        """Delete a key; whether it was live."""
        writer = self._writer
        rows = await writer.call(lambda: writer.execute(_DELETE_KV, (key,)).fetchall())
        return bool(rows) and (rows[0][0] is None or rows[0][0] > time.time())

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry."""
        writer = self._writer
        now = time.time()
        return await writer.call(
            lambda: writer.execute(_EXPIRE_KV, (expires_at, key, now)).rowcount > 0
        )

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys with the prefix, sorted."""
        now = time.time()

        def scan() -> list[str]:
            found: list[str] = []
            self._writer.check_open()
            # Keys sort by code point, so the keys with the prefix come first from ``prefix`` on.
            with contextlib.closing(self._conn.execute(_SCAN_KV, (prefix, now))) as cur:
                for (key,) in cur:
                    if not key.startswith(prefix):
                        break
                    found.append(key)
            return found

        return await self._writer.call(scan)

    async def kv_incr(self, key: str, amount: int) -> int:
        """Add to an integer value, atomically: the write lock is held from read to write."""
        writer = self._writer

        def incr() -> int:
            row = writer.execute(_GET_KV, (key, time.time())).fetchone()
            current = load(row[0]) if row is not None else 0
            if not isinstance(current, int) or isinstance(current, bool):
                raise TypeError(f"kv key {key!r} holds {type(current).__name__}, not an integer")
            value = current + amount
            writer.execute(_SET_KV, (key, dump(value), None if row is None else row[1]))
            return value

        return await writer.call(incr)

    # -- artifacts -------------------------------------------------------------------------
    async def add_artifact(self, artifact: Artifact) -> None:
        """Index an artifact."""
        await self._writer.write(_ADD_ARTIFACT, artifact_row(artifact))

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""
        rows = await self._writer.read(_GET_ARTIFACT, (artifact_id,))
        return artifact_record(rows[0]) if rows else None

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
        clauses, params = where_equal(
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
            rows = await self._writer.read(f"{sql} LIMIT ?", [*params, max(limit, 0)])
            return [artifact_record(r) for r in rows]
        # Labels compare with Python's ==, as in memory: filter here, reading until ``limit``.

        def matching() -> list[Artifact]:
            found: list[Artifact] = []
            self._writer.check_open()
            with contextlib.closing(self._conn.execute(sql, params)) as cur:
                for row in cur:
                    if len(found) >= limit:
                        break
                    artifact = artifact_record(row)
                    if all(k in artifact.labels and artifact.labels[k] == v for k, v in wanted):
                        found.append(artifact)
            return found

        wanted = labels.items()
        return await self._writer.call(matching)

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin an artifact; whether it exists."""
        writer = self._writer
        return await writer.call(
            lambda: writer.execute(_PIN_ARTIFACT, (pinned, artifact_id)).rowcount > 0
        )

    # -- waits -----------------------------------------------------------------------------
    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait; a replaced wait keeps its place."""
        await self._writer.write(_PUT_WAIT, wait_row(record))

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""
        rows = await self._writer.read(_GET_WAIT, (wait_id,))
        return wait_record(rows[0]) if rows else None

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, first stored first."""
        clauses, params = where_equal(run_id=run_id, status=status)
        rows = await self._writer.read(f"{_SELECT_WAITS}{_where(clauses)} ORDER BY seq", params)
        return [wait_record(r) for r in rows]
