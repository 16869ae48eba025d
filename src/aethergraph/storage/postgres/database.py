"""A PostgreSQL database as the runtime's storage: one ``PostgresStorage`` per event loop.

asyncpg connections belong to the loop that opened them, while a process may run graphs on
several loops in turn (each synchronous ``run()`` is an ``asyncio.run``) or at once (a server
loop and a worker thread). ``PostgresDatabase`` is the one storage object the runtime holds: each
call goes to the ``PostgresStorage`` of the running loop, connected on its first call there and
closed when that loop shuts down its async generators (``asyncio.run`` and ``asyncio.Runner`` do,
before closing the loop). The schema is checked and migrated once per process.

Blob bytes go to the database, or to the content-addressed folder under ``artifact_root`` when
one is given (a filesystem every worker mounts; see ``blobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage.postgres.storage import PostgresStorage

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
    from pathlib import Path

    from aethergraph.storage.postgres.changes import FollowedRun, FollowedRuns
    from aethergraph.storage.records import (
        Artifact,
        Event,
        LogEntry,
        NodeRecord,
        RunEvent,
        RunRecord,
        RunStatus,
        WaitRecord,
        WaitStatus,
    )

__all__ = ["PostgresDatabase"]


class PostgresDatabase:
    """One schema of a PostgreSQL database, usable from any event loop of the process.

    Args:
        url: ``postgresql://user@host:port/database``, optionally with ``?schema=NAME``: the
            schema (namespace) holding the tables, ``aethergraph`` by default, created when
            missing. Several workspaces can share one database, one schema each.
        artifact_root: An absolute path to an existing folder that every process on this
            database reads and writes blob bytes in, instead of the database.
    """

    def __init__(self, url: str, *, artifact_root: Path | None = None) -> None:
        self.url = url
        self.artifact_root = artifact_root
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        schemas = [v for k, v in query if k == "schema"]
        self.schema = schemas[-1] if schemas else "aethergraph"
        rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
        self.dsn = urllib.parse.urlunsplit(parts._replace(query=rest))
        schema = self.schema
        self._location = f"{parts.hostname}:{parts.port or 5432}{parts.path} schema {schema}"
        self._stores: dict[asyncio.AbstractEventLoop, PostgresStorage] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        # Strong references: the loop tracks its async generators in a weak set.
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._migrated = False

    @property
    def location(self) -> str:
        """The server, database and schema."""
        return self._location

    @property
    def blobs(self) -> PostgresDatabase:
        """The blobs (this object: its blob methods go to the loop's storage)."""
        return self

    async def storage(self) -> PostgresStorage:
        """The storage of the running loop, connected on first use."""
        loop = asyncio.get_running_loop()
        store = self._stores.get(loop)
        if store is not None:
            return store
        lock = self._opening.setdefault(loop, asyncio.Lock())
        async with lock:
            store = self._stores.get(loop)
            if store is None:
                store = await PostgresStorage.connect(
                    self.dsn,
                    schema=self.schema,
                    migrate_schema=not self._migrated,
                    artifact_root=self.artifact_root,
                )
                self._migrated = True
                self.artifact_root = store.artifact_root  # the one the database records
                self._stores[loop] = store
                closer = self._close_with_loop(loop, store)
                await anext(closer)  # registers it with the loop's async generator shutdown
                self._closers[loop] = closer
        self._opening.pop(loop, None)
        return store

    async def _close_with_loop(
        self, loop: asyncio.AbstractEventLoop, store: PostgresStorage
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._stores.pop(loop, None)
            self._closers.pop(loop, None)
            await store.close()

    def _held_by(self) -> PostgresStorage:
        """The storage that takes rows appended from this thread (which may run no loop)."""
        try:
            store = self._stores.get(asyncio.get_running_loop())
        except RuntimeError:
            store = None
        if store is None:
            store = next((s for loop, s in self._stores.items() if loop.is_running()), None)
        if store is None:
            raise StorageError(
                f"the PostgreSQL storage at {self._location} is not open on any running event "
                "loop; await a storage call (e.g. get_run) on the loop first"
            )
        return store

    async def flush(self) -> None:
        """Write what this loop's storage holds."""
        store = self._stores.get(asyncio.get_running_loop())
        if store is not None:
            await store.flush()

    async def close(self) -> None:
        """Close this loop's storage (the other loops' close when those loops shut down)."""
        loop = asyncio.get_running_loop()
        closer = self._closers.pop(loop, None)
        store = self._stores.pop(loop, None)
        if closer is not None:
            await closer.aclose()
        elif store is not None:
            await store.close()

    @contextlib.asynccontextmanager
    async def follow_runs(self) -> AsyncIterator[FollowedRuns]:
        """The changes other processes make to any run (answers, signals, claims)."""
        async with (await self.storage()).follow_runs() as followed:
            yield followed

    @contextlib.asynccontextmanager
    async def follow_run(self, run_id: str) -> AsyncIterator[FollowedRun]:
        """The changes other processes make to run ``run_id`` (answers, signals, claims)."""
        async with (await self.storage()).follow_run(run_id) as followed:
            yield followed

    def __repr__(self) -> str:
        return f"<PostgresDatabase {self._location!r} loops={len(self._stores)}>"

    # -- runs, nodes, run events, owners, signals ------------------------------------------
    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run record."""
        await (await self.storage()).put_run(record)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or ``None``."""
        return await (await self.storage()).get_run(run_id)

    async def release_run(self, run_id: str) -> None:
        """Stop holding the run's record: the process it is handed to stores it from now on."""
        await (await self.storage()).release_run(run_id)

    async def list_runs(self, **filters: Any) -> list[RunRecord]:
        """Matching runs (see ``RunStore.list_runs``)."""
        return await (await self.storage()).list_runs(**filters)

    async def claim_run(
        self, record: RunRecord, *, expect_status: RunStatus | None, expect_owner: str | None
    ) -> bool:
        """Compare-and-set a run record on its status and owner."""
        store = await self.storage()
        return await store.claim_run(record, expect_status=expect_status, expect_owner=expect_owner)

    def append_run_event(self, event: RunEvent) -> None:
        """Append a run event (thread-safe)."""
        self._held_by().append_run_event(event)

    async def list_run_events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """The run's events after ``after``."""
        return await (await self.storage()).list_run_events(run_id, after=after, limit=limit)

    async def last_run_event_seq(self, run_id: str) -> int:
        """The seq of the run's last event, or 0."""
        return await (await self.storage()).last_run_event_seq(run_id)

    async def beat(self, owner: str, at: float) -> None:
        """Record a heartbeat."""
        await (await self.storage()).beat(owner, at)

    async def heartbeats(self, owners: Sequence[str]) -> dict[str, float]:
        """The last heartbeats of the given owners."""
        return await (await self.storage()).heartbeats(owners)

    async def signal_run(self, run_id: str, signal: str) -> None:
        """Leave a signal for the process hosting the run."""
        await (await self.storage()).signal_run(run_id, signal)

    async def take_run_signals(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Take the signals left for the given runs."""
        return await (await self.storage()).take_run_signals(run_ids)

    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace a node record."""
        await (await self.storage()).put_node(record)

    async def journal_node(self, record: NodeRecord) -> None:
        """Store a finished step durably."""
        await (await self.storage()).journal_node(record)

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes."""
        return await (await self.storage()).list_nodes(run_id)

    # -- memory events, logs, kv -----------------------------------------------------------
    async def append_event(self, event: Event) -> None:
        """Append one memory event."""
        await (await self.storage()).append_event(event)

    async def query_events(self, **filters: Any) -> list[Event]:
        """Matching memory events (see ``EventStore.query_events``)."""
        return await (await self.storage()).query_events(**filters)

    def append_log(self, entry: LogEntry) -> None:
        """Keep one log entry (thread-safe)."""
        self._held_by().append_log(entry)

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` log entries."""
        return await (await self.storage()).list_logs(run_id, limit=limit)

    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Live values of the given keys."""
        return await (await self.storage()).kv_get_many(keys)

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set several keys with one expiry."""
        await (await self.storage()).kv_set_many(items, expires_at=expires_at)

    async def kv_delete(self, key: str) -> bool:
        """Delete a key; whether it was live."""
        return await (await self.storage()).kv_delete(key)

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry."""
        return await (await self.storage()).kv_expire(key, expires_at)

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys with the prefix."""
        return await (await self.storage()).kv_scan(prefix)

    async def kv_incr(self, key: str, amount: int) -> int:
        """Add to an integer value, atomically."""
        return await (await self.storage()).kv_incr(key, amount)

    # -- blobs, artifacts, waits -----------------------------------------------------------
    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        return await (await self.storage()).put_bytes(data)

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a local file's content under its sha256."""
        return await (await self.storage()).put_file(path, move=move)

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        return await (await self.storage()).read_bytes(sha256)

    async def local_path(self, sha256: str) -> Path:
        """The blob as a local file."""
        return await (await self.storage()).local_path(sha256)

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path for ``put_file`` to take in."""
        return self._held_by().staging_path(suffix)

    async def add_artifact(self, artifact: Artifact) -> None:
        """Index an artifact."""
        await (await self.storage()).add_artifact(artifact)

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""
        return await (await self.storage()).get_artifact(artifact_id)

    async def query_artifacts(self, **filters: Any) -> list[Artifact]:
        """Matching artifacts (see ``ArtifactIndex.query_artifacts``)."""
        return await (await self.storage()).query_artifacts(**filters)

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin an artifact; whether it exists."""
        return await (await self.storage()).set_pinned(artifact_id, pinned)

    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait."""
        await (await self.storage()).put_wait(record)

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""
        return await (await self.storage()).get_wait(wait_id)

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, first stored first."""
        return await (await self.storage()).list_waits(run_id=run_id, status=status)
