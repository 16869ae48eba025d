"""What a storage backend provides: a small protocol per kind of record, composed in ``Storage``.

Writes are visible to the writing process at once. They become durable, and visible to other
processes, when ``flush()`` returns or, for writes nobody flushed, within the backend's short flush
deadline. The runtime flushes at every point where it acknowledges something to a caller: a run's
outputs returned, a node checkpointed, a wait opened, a kv value set, a memory event recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractAsyncContextManager
    from pathlib import Path

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

__all__ = [
    "ArtifactIndex",
    "BlobStore",
    "ChangeFeed",
    "EventStore",
    "KVStore",
    "LogStore",
    "NodeStore",
    "OwnerStore",
    "RunChanges",
    "RunEventStore",
    "RunsChanges",
    "RunSignalStore",
    "RunStore",
    "Storage",
    "WaitStore",
]


class RunStore(Protocol):
    """Run records, one per run id."""

    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace the record with ``record.run_id``."""

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The record, or ``None`` when there is no such run."""

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

    async def claim_run(
        self, record: RunRecord, *, expect_status: RunStatus | None, expect_owner: str | None
    ) -> bool:
        """Store ``record`` only if the stored run is as expected; whether it was stored.

        With ``expect_status=None`` the record is inserted only if no run has its id. Otherwise it
        replaces the stored run only if that run's status is ``expect_status`` and its owner is
        ``expect_owner`` (``None`` matching no owner). Atomic across every process sharing the
        backend, and durable when it returns ``True``.
        """


class RunEventStore(Protocol):
    """The changes each run went through, numbered per run."""

    def append_run_event(self, event: RunEvent) -> None:
        """Keep one event. Synchronous, cheap and thread-safe: it is on every run's path.

        ``(run_id, seq)`` is unique: a second event with both is refused, reported by ``flush()``.
        """

    async def list_run_events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """The run's events with ``seq > after``, in ``seq`` order, at most ``limit``."""

    async def last_run_event_seq(self, run_id: str) -> int:
        """The highest ``seq`` stored for the run; 0 when it has none."""


class OwnerStore(Protocol):
    """Heartbeats of the processes owning runs, so that runs of a dead process can be taken over."""

    async def beat(self, owner: str, at: float) -> None:
        """Record that ``owner`` was alive at ``at`` (epoch seconds); durable when it returns."""

    async def heartbeats(self, owners: Sequence[str]) -> dict[str, float]:
        """The last beat of each of ``owners`` that has one."""


class RunSignalStore(Protocol):
    """Requests to a run's owner from any process sharing the backend (cancel, say)."""

    async def signal_run(self, run_id: str, signal: str) -> None:
        """Leave ``signal`` for the run's owner; durable when it returns."""

    async def take_run_signals(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Remove and return the pending ``(run_id, signal)`` pairs of these runs, oldest first.

        Each signal is returned once, even to processes taking at the same time. Cheap when there
        are none: owners poll it.
        """


class NodeStore(Protocol):
    """Node records, one per (run id, node id)."""

    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace the record with ``(record.run_id, record.node_id)``."""

    async def journal_node(self, record: NodeRecord) -> None:
        """Like ``put_node`` for a finished step, and durable against a crash of this process.

        Durable when it returns; a backend may write it ahead of its next commit, cheaply.
        """

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes in the order they were first stored."""


class EventStore(Protocol):
    """The append-only memory event log."""

    async def append_event(self, event: Event) -> None:
        """Append one event."""

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
        """The newest ``limit`` matching events, oldest first.

        ``tags`` requires every tag given; ``text`` is a full-text query requiring every word.
        """


class LogStore(Protocol):
    """Log records kept with their run."""

    def append_log(self, entry: LogEntry) -> None:
        """Keep one entry. Synchronous and thread-safe: loggers are called from worker threads."""

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` entries, oldest first."""


class KVStore(Protocol):
    """A JSON key-value store with optional expiry (absolute epoch seconds)."""

    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values of the keys that exist and have not expired."""

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set every key in ``items``, with the given expiry (``None``: never)."""

    async def kv_delete(self, key: str) -> bool:
        """Delete the key; whether it existed."""

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry; whether it existed."""

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys starting with ``prefix``, sorted."""

    async def kv_incr(self, key: str, amount: int) -> int:
        """Atomically add ``amount`` to an integer value (a missing key counts as 0)."""


class BlobStore(Protocol):
    """Content-addressed bytes, named by their sha256 hex digest.

    Nothing here assumes the bytes live in a local folder but ``local_path``, which a remote
    store serves by downloading the blob to a local cache.
    """

    async def put_bytes(self, data: bytes) -> str:
        """Store ``data``; its sha256."""

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Store the local file's content (removing the file when ``move``); its sha256."""

    async def read_bytes(self, sha256: str) -> bytes:
        """The content, or ``KeyError`` when there is none under that digest."""

    async def local_path(self, sha256: str) -> Path:
        """A local file holding the content (a cached copy for a remote store), or ``KeyError``."""

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh local path for a writer to fill before ``put_file(path, move=True)``."""


class ArtifactIndex(Protocol):
    """The index of artifacts: provenance, kind, labels and metrics of stored blobs."""

    async def add_artifact(self, artifact: Artifact) -> None:
        """Index one artifact."""

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""

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
        """Matching artifacts, newest first; ``labels`` must all be present with equal values."""

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin; whether the artifact exists."""


class WaitStore(Protocol):
    """Durable continuations: nodes waiting for an answer."""

    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace the record with ``record.wait_id``."""

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, oldest first."""


class RunChanges(Protocol):
    """The changes to one run that other processes make, as a ``ChangeFeed`` follows them."""

    async def changed(self, within: float) -> bool:
        """``True`` at a change to the run since the last return; ``False`` after ``within`` s.

        Also ``True`` now and then while the backend cannot tell (look at the store then).
        """


class RunsChanges(Protocol):
    """The changes to any run that other processes make, as a ``ChangeFeed`` follows them."""

    async def changed(self, within: float) -> set[str] | None:
        """The ids of the runs changed since the last return; empty after ``within`` seconds.

        ``None`` when the backend cannot tell which runs changed (look at all of them then).
        """


@runtime_checkable
class ChangeFeed(Protocol):
    """A backend that can wake a process when another one answers its waits or signals its runs.

    Optional: the run monitor follows the changes to every run (``follow_runs``) instead of
    polling the store when the backend has it (PostgreSQL's ``LISTEN``), and a run held for its
    answer follows its own (``follow_run``); others are polled.
    """

    def follow_runs(self) -> AbstractAsyncContextManager[RunsChanges]:
        """The changes to every run, followed from entering until leaving."""

    def follow_run(self, run_id: str) -> AbstractAsyncContextManager[RunChanges]:
        """The changes to run ``run_id``, followed from entering until leaving."""


class Storage(
    RunStore,
    RunEventStore,
    OwnerStore,
    RunSignalStore,
    NodeStore,
    EventStore,
    LogStore,
    KVStore,
    BlobStore,
    ArtifactIndex,
    WaitStore,
    Protocol,
):
    """Everything the runtime keeps, in one backend.

    Its ``BlobStore`` methods are those of ``blobs``.
    """

    @property
    def blobs(self) -> BlobStore:
        """The backend's blob store."""

    @property
    def location(self) -> str:
        """Where the data lives, for messages (a folder, or ``memory``)."""

    async def flush(self) -> None:
        """Make every write so far durable and visible to other processes."""

    async def close(self) -> None:
        """Flush and release the backend's resources; idempotent."""
