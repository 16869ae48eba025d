"""PostgreSQL storage: every store in one schema of a PostgreSQL database, blobs included.

Blob bytes are rows of the database too, unless an artifact root is given: then they go to a
content-addressed folder there, shared by every process on the database (see ``blobs``).

Writes are committed as they are made (run events and log entries wait in memory until something
reads them, or ``flush()``), so several processes, on several hosts, may share one schema.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import asyncpg

from aethergraph.errors import StorageError
from aethergraph.storage.blob_access import BlobAccess
from aethergraph.storage.postgres import rows
from aethergraph.storage.postgres.blobs import (
    ArtifactRootBlobs,
    PostgresBlobs,
    agree_on_root,
)
from aethergraph.storage.postgres.changes import ChangeListener, notify_sql
from aethergraph.storage.postgres.runs import PostgresRuns
from aethergraph.storage.postgres.schema import migrate
from aethergraph.storage.postgres.sql import Where, select, upsert
from aethergraph.storage.records import WaitStatus, words

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

    from aethergraph.storage.blob_folder import BlobFolder
    from aethergraph.storage.postgres.changes import FollowedRun, FollowedRuns
    from aethergraph.storage.records import Artifact, Event, LogEntry, WaitRecord

__all__ = ["PostgresStorage"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_APPEND_EVENT = (
    f"INSERT INTO events ({', '.join(rows.EVENT_COLUMNS)}, words) VALUES ("
    + ", ".join(f"${n}" for n in range(1, len(rows.EVENT_COLUMNS) + 1))
    + f", array_to_tsvector(${len(rows.EVENT_COLUMNS) + 1}::text[]))"
)
_SELECT_EVENTS = select("events", rows.EVENT_COLUMNS)
_LIST_LOGS = f"{select('logs', rows.LOG_COLUMNS)} WHERE run_id = $1 ORDER BY seq LIMIT $2"
_LIVE = "(expires_at IS NULL OR expires_at > {})"
_SET_KV = upsert("kv", ("key", "value", "expires_at"), ("key",))
_GET_KV = f"SELECT key, value FROM kv WHERE key = ANY($1::text[]) AND {_LIVE.format('$2')}"
_LOCK_KV = "SELECT pg_advisory_xact_lock(hashtext('aethergraph.kv:' || $1))"
_GET_ONE_KV = f"SELECT value, expires_at FROM kv WHERE key = $1 AND {_LIVE.format('$2')}"
_DELETE_KV = "DELETE FROM kv WHERE key = $1 RETURNING expires_at"
_EXPIRE_KV = f"UPDATE kv SET expires_at = $1 WHERE key = $2 AND {_LIVE.format('$3')} RETURNING 1"
_SCAN_KV = f"SELECT key FROM kv WHERE starts_with(key, $1) AND {_LIVE.format('$2')} ORDER BY key"
_ADD_ARTIFACT = upsert("artifacts", rows.ARTIFACT_COLUMNS, ("id",))
_SELECT_ARTIFACTS = select("artifacts", rows.ARTIFACT_COLUMNS)
_PIN_ARTIFACT = "UPDATE artifacts SET pinned = $1 WHERE id = $2 RETURNING 1"
_PUT_WAIT = upsert("waits", rows.WAIT_COLUMNS, ("wait_id",))
_SELECT_WAITS = select("waits", rows.WAIT_COLUMNS)
_PUT_ANSWERED_WAIT = notify_sql(_PUT_WAIT, len(rows.WAIT_COLUMNS) + 1)
_SIGNAL_NOTIFY = notify_sql("INSERT INTO run_signals (run_id, signal) VALUES ($1, $2)", 3)


async def _session_kept(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is, without a reset query (a round trip).

    This storage leaves no session state on pooled connections: no ``SET``, cursors, session
    advisory locks or ``LISTEN`` (changes are listened for on a connection of its own). An open
    transaction is still rolled back by the pool before this is called.
    """


class PostgresStorage(BlobAccess, PostgresRuns):
    """Every store in one schema of a PostgreSQL database; open one with ``connect``.

    Made on the event loop that uses it, which ``append_run_event`` and ``append_log`` hand their
    rows to from any thread.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        location: str,
        dsn: str,
        schema: str,
        artifact_folder: BlobFolder | None = None,
        artifact_root: Path | None = None,
    ) -> None:
        super().__init__(asyncio.get_running_loop())
        self.artifact_root = artifact_root
        """The artifact root's path (``artifact_folder``'s), or ``None``: blobs in the table."""
        self._pool = pool
        self._location = location
        table = PostgresBlobs(pool)
        self._blobs: PostgresBlobs | ArtifactRootBlobs = (
            table if artifact_folder is None else ArtifactRootBlobs(artifact_folder, table)
        )
        self._closed = False
        self._changes = ChangeListener(dsn, schema)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        schema: str = "aethergraph",
        max_connections: int = 8,
        migrate_schema: bool = True,
        artifact_root: Path | None = None,
    ) -> PostgresStorage:
        """Open the schema ``schema`` (created if missing) of the database at ``dsn``.

        ``migrate_schema=False`` skips the schema check, for a process that made it already.
        ``artifact_root``, an existing folder every process on the database can read and write,
        keeps blob bytes there instead of in the database (``ConfigurationError`` if unusable, or
        not the folder the database is used with); without one, the root the database records
        is used when reachable (see ``blobs.agree_on_root``).
        """
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError(
                f"{schema!r} is not a usable schema name; use lowercase letters, digits and _"
            )
        parts = urllib.parse.urlsplit(dsn)
        location = f"{parts.hostname}:{parts.port or 5432}{parts.path} schema {schema}"
        try:
            if migrate_schema:
                conn = await asyncpg.connect(dsn)
                try:
                    await migrate(conn, schema)
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max_connections,
                server_settings={"search_path": schema},
                reset=_session_kept,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"cannot open the PostgreSQL storage at {location}: {exc}") from exc
        try:
            agreed = await agree_on_root(pool, artifact_root, location)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, (OSError, asyncpg.PostgresError)):
                raise StorageError(
                    f"cannot open the PostgreSQL storage at {location}: {exc}"
                ) from exc
            raise
        if agreed is None:
            return cls(pool, location, dsn, schema)
        return cls(pool, location, dsn, schema, agreed[1], agreed[0])

    @property
    def location(self) -> str:
        """The server, database and schema."""
        return self._location

    @property
    def blobs(self) -> PostgresBlobs | ArtifactRootBlobs:
        """The blobs: in the database, or in the artifact root's folder."""
        return self._blobs

    async def flush(self) -> None:
        """Write the held run events and log entries; ``StorageError`` for those refused."""
        if self._closed:
            return
        await self._write_held()
        if self._refused:
            refused, self._refused = self._refused, []
            raise StorageError(f"PostgreSQL refused to store {'; '.join(refused)}")

    async def close(self) -> None:
        """Flush and close the connections; idempotent."""
        if self._closed:
            return
        try:
            await self._stop_deadline_writes()
            await self.flush()
        finally:
            self._closed = True
            await self._changes.close()
            await self._pool.close()
            self._blobs.discard_files()

    # -- events ----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> None:
        """Append one memory event, with its words."""
        await self._pool.execute(_APPEND_EVENT, *rows.event_row(event))

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
        where = Where()
        where.equal(scope_id=scope_id, run_id=run_id, topic=topic)
        if kinds:
            where.add("kind = ANY({}::text[])", list(kinds))
        if tags:
            where.add("tags @> {}::text[]", list(tags))
        wanted = dict.fromkeys(words(text or ""))
        if wanted:
            # Words are runs of \w characters: quoted, each is one lexeme of the query.
            where.add("words @@ {}::tsquery", " & ".join(f"'{w}'" for w in wanted))
        sql = f"{_SELECT_EVENTS}{where} ORDER BY seq DESC LIMIT {where.mark(max(limit, 0))}"
        found = await self._pool.fetch(sql, *where.params)
        return [rows.event_record(r) for r in reversed(found)]

    # -- logs ------------------------------------------------------------------------------
    def append_log(self, entry: LogEntry) -> None:
        """Keep one log entry (thread-safe; held until needed in the database)."""
        self._hold(self._held_logs, rows.log_row(entry))

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` log entries."""
        await self._write_held()
        return [rows.log_record(r) for r in await self._pool.fetch(_LIST_LOGS, run_id, limit)]

    # -- kv --------------------------------------------------------------------------------
    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Live values of the given keys."""
        found = dict(await self._pool.fetch(_GET_KV, list(dict.fromkeys(keys)), time.time()))
        return {k: rows.load(found[k]) for k in keys if k in found}

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set several keys with one expiry."""
        if items:
            await self._pool.executemany(
                _SET_KV, [(k, rows.dump(v), expires_at) for k, v in items.items()]
            )

    async def kv_delete(self, key: str) -> bool:
        """Delete a key; whether it was live."""
        found = await self._pool.fetch(_DELETE_KV, key)
        return bool(found) and (found[0][0] is None or found[0][0] > time.time())

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry."""
        return await self._pool.fetchval(_EXPIRE_KV, expires_at, key, time.time()) is not None

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys with the prefix, sorted by code point."""
        return [r[0] for r in await self._pool.fetch(_SCAN_KV, prefix, time.time())]

    async def kv_incr(self, key: str, amount: int) -> int:
        """Add to an integer value, atomically: a lock on the key serialises increments."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK_KV, key)
            row = await conn.fetchrow(_GET_ONE_KV, key, time.time())
            current = rows.load(row[0]) if row is not None else 0
            if not isinstance(current, int) or isinstance(current, bool):
                raise TypeError(f"kv key {key!r} holds {type(current).__name__}, not an integer")
            value: int = current + amount
            await conn.execute(_SET_KV, key, rows.dump(value), None if row is None else row[1])
        return value

    # -- artifacts -------------------------------------------------------------------------
    async def add_artifact(self, artifact: Artifact) -> None:
        """Index an artifact."""
        await self._pool.execute(_ADD_ARTIFACT, *rows.artifact_row(artifact))

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""
        row = await self._pool.fetchrow(f"{_SELECT_ARTIFACTS} WHERE id = $1", artifact_id)
        return rows.artifact_record(row) if row is not None else None

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
        where = Where()
        where.equal(
            run_id=run_id,
            session_id=session_id,
            graph_id=graph_id,
            node_id=node_id,
            kind=kind,
            name=name,
            pinned=pinned,
        )
        sql = f"{_SELECT_ARTIFACTS}{where} ORDER BY created_at DESC, seq DESC"
        if not labels:
            sql += f" LIMIT {where.mark(max(limit, 0))}"
            return [rows.artifact_record(r) for r in await self._pool.fetch(sql, *where.params)]
        # Labels compare with Python's ==, as in memory: filter here, reading until ``limit``.
        found: list[Artifact] = []
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(sql, *where.params):
                if len(found) >= limit:
                    break
                artifact = rows.artifact_record(row)
                if all(k in artifact.labels and artifact.labels[k] == v for k, v in labels.items()):
                    found.append(artifact)
        return found

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin an artifact; whether it exists."""
        return await self._pool.fetchval(_PIN_ARTIFACT, pinned, artifact_id) is not None

    # -- waits -----------------------------------------------------------------------------
    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait; a replaced wait keeps its place.

        An answered wait wakes the process hosting its run (``follow_runs``) when it commits.
        """
        row = rows.wait_row(record)
        if record.status is WaitStatus.ANSWERED:
            await self._pool.execute(_PUT_ANSWERED_WAIT, *row, self._changes.channel)
        else:
            await self._pool.execute(_PUT_WAIT, *row)

    async def signal_run(self, run_id: str, signal: str) -> None:
        """Leave a signal for the run's owner, and wake it (``follow_runs``)."""
        await self._pool.execute(_SIGNAL_NOTIFY, run_id, signal, self._changes.channel)

    def follow_runs(self) -> AbstractAsyncContextManager[FollowedRuns]:
        """The changes other processes make to any run (answers, signals, claims).

        Listens (``LISTEN``) from the first wait on, on a connection of its own.
        """
        return self._changes.follow_runs()

    def follow_run(self, run_id: str) -> AbstractAsyncContextManager[FollowedRun]:
        """The changes other processes make to run ``run_id`` (answers, signals, claims)."""
        return self._changes.follow_run(run_id)

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""
        row = await self._pool.fetchrow(f"{_SELECT_WAITS} WHERE wait_id = $1", wait_id)
        return rows.wait_record(row) if row is not None else None

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, first stored first."""
        where = Where()
        where.equal(run_id=run_id, status=None if status is None else str(status))
        found = await self._pool.fetch(f"{_SELECT_WAITS}{where} ORDER BY seq", *where.params)
        return [rows.wait_record(r) for r in found]
