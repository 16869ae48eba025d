"""In-memory storage: the test double and the reference behaviour for every backend.

Everything is kept in dicts and lists of this process; blobs that must appear as local files are
written to a private temporary folder, removed on ``close()``. Full-text search matches the words
``words`` gives.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import threading
import time
from typing import TYPE_CHECKING, Any

from aethergraph.errors import StorageError
from aethergraph.storage.blob_access import BlobAccess
from aethergraph.storage.blob_memory import MemoryBlobs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from aethergraph.storage.records import (
        Artifact,
        Event,
        LogEntry,
        RunEvent,
        RunStatus,
        WaitRecord,
        WaitStatus,
    )

from aethergraph.storage.records import NodeRecord, RunEvent, RunRecord, words

__all__ = ["MemoryStorage", "words"]


def _values_of(cls: type[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A getter of a record dataclass's field values, in constructor order."""
    return operator.attrgetter(*(f.name for f in dataclasses.fields(cls)))


# Runs and nodes are kept as tuples of their field values: taking the values is the cheapest
# snapshot (writes are on every run's and node's path), and reads rebuild a fresh record.
_run_values = _values_of(RunRecord)
_node_values = _values_of(NodeRecord)
_RUN_FIELDS = [f.name for f in dataclasses.fields(RunRecord)]
_STATUS, _OWNER = _RUN_FIELDS.index("status"), _RUN_FIELDS.index("owner")
_by_seq = operator.attrgetter("seq")


def _event_words(event: Event) -> set[str]:
    parts = [event.text or "", event.topic or "", event.kind, " ".join(event.tags)]
    return set(words(" ".join(parts)))


class MemoryStorage(BlobAccess):
    """All stores in process memory. Safe for one event loop plus worker threads logging."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        """``clock`` decides when kv entries expire (a test's manual clock, say)."""
        self._clock = clock
        self._runs: dict[str, tuple[Any, ...]] = {}
        self._nodes: dict[str, dict[str, tuple[Any, ...]]] = {}
        self._events: list[Event] = []
        self._logs: dict[str, list[LogEntry]] = {}
        self._run_events: dict[str, dict[int, RunEvent]] = {}
        self._refused: list[str] = []
        self._lock = threading.Lock()  # logs and run events come from worker threads too
        self._owners: dict[str, float] = {}
        self._signals: list[tuple[str, str]] = []
        self._kv: dict[str, tuple[Any, float | None]] = {}
        self._artifacts: dict[str, Artifact] = {}
        self._waits: dict[str, WaitRecord] = {}
        self._blobs = MemoryBlobs()

    @property
    def location(self) -> str:
        """Always ``memory``."""
        return "memory"

    @property
    def blobs(self) -> MemoryBlobs:
        """The blobs, in memory."""
        return self._blobs

    async def flush(self) -> None:
        """Report the run events refused since the last flush; other writes are immediate."""
        with self._lock:
            refused, self._refused = self._refused, []
        if refused:
            raise StorageError(f"refused to store {'; '.join(refused)}")

    async def close(self) -> None:
        """Remove the temporary folder used for local files."""
        self.discard_files()

    def discard_files(self) -> None:
        """Remove the temporary folder used for local files (``close`` without a loop)."""
        self._blobs.discard_files()

    # -- runs ------------------------------------------------------------------------------
    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run record."""
        self._runs[record.run_id] = _run_values(record)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run record, or ``None``."""
        values = self._runs.get(run_id)
        return RunRecord(*values) if values is not None else None

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
        found = [
            r
            for r in (RunRecord(*v) for v in reversed(self._runs.values()))
            if (status is None or r.status == status)
            and (graph_id is None or r.graph_id == graph_id)
            and (session_id is None or r.session_id == session_id)
            and (parent_run_id is None or r.parent_run_id == parent_run_id)
        ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[offset : offset + limit]

    async def claim_run(
        self, record: RunRecord, *, expect_status: RunStatus | None, expect_owner: str | None
    ) -> bool:
        """Store the record only if the stored run is as expected; whether it was stored."""
        stored = self._runs.get(record.run_id)
        if expect_status is None:
            if stored is not None:
                return False
        elif stored is None or (stored[_STATUS], stored[_OWNER]) != (expect_status, expect_owner):
            return False
        self._runs[record.run_id] = _run_values(record)
        return True

    # -- run events ------------------------------------------------------------------------
    def append_run_event(self, event: RunEvent) -> None:
        """Keep one run event (thread-safe); a taken ``(run_id, seq)`` is refused at ``flush()``.

        The event is kept as given (readers get copies): the engine hands over fresh ones. Each
        step is one dict operation, atomic under the GIL, so no lock is taken on this hot path.
        """
        events = self._run_events.get(event.run_id)
        if events is None:
            events = self._run_events.setdefault(event.run_id, {})
        if events.setdefault(event.seq, event) is not event:
            self._refused.append(f"run event {event.seq} of run {event.run_id!r}: taken")

    async def list_run_events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[RunEvent]:
        """The run's events after ``after``, in ``seq`` order, at most ``limit``."""
        with self._lock:
            events = self._run_events.get(run_id, {})
            found = sorted((e for seq, e in events.items() if seq > after), key=_by_seq)
        return copy.deepcopy(found[: max(limit, 0)])

    async def last_run_event_seq(self, run_id: str) -> int:
        """The highest ``seq`` stored for the run, 0 when none."""
        with self._lock:
            return max(self._run_events.get(run_id, ()), default=0)

    # -- owners and signals ----------------------------------------------------------------
    async def beat(self, owner: str, at: float) -> None:
        """Record the owner's heartbeat."""
        self._owners[owner] = at

    async def heartbeats(self, owners: Sequence[str]) -> dict[str, float]:
        """The last beat of each owner that has one."""
        return {o: self._owners[o] for o in owners if o in self._owners}

    async def signal_run(self, run_id: str, signal: str) -> None:
        """Leave a signal for the run's owner."""
        self._signals.append((run_id, signal))

    async def take_run_signals(self, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """Remove and return the pending signals of these runs, oldest first."""
        if not self._signals:
            return []
        wanted = set(run_ids)
        taken = [s for s in self._signals if s[0] in wanted]
        if taken:
            self._signals = [s for s in self._signals if s[0] not in wanted]
        return taken

    # -- nodes -----------------------------------------------------------------------------
    async def put_node(self, record: NodeRecord) -> None:
        """Insert or replace a node record."""
        self._nodes.setdefault(record.run_id, {})[record.node_id] = _node_values(record)

    async def journal_node(self, record: NodeRecord) -> None:
        """Store a finished step (nothing in memory outlives the process anyway)."""
        await self.put_node(record)

    async def list_nodes(self, run_id: str) -> list[NodeRecord]:
        """The run's nodes in first-stored order."""
        return [NodeRecord(*v) for v in self._nodes.get(run_id, {}).values()]

    # -- events ----------------------------------------------------------------------------
    async def append_event(self, event: Event) -> None:
        """Append one memory event."""
        self._events.append(copy.deepcopy(event))

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
        wanted = set(words(text)) if text else set()
        out: list[Event] = []
        for ev in reversed(self._events):
            if len(out) >= limit:
                break
            if (
                (scope_id is None or ev.scope_id == scope_id)
                and (run_id is None or ev.run_id == run_id)
                and (not kinds or ev.kind in kinds)
                and (topic is None or ev.topic == topic)
                and (not tags or set(tags) <= set(ev.tags))
                and (not wanted or wanted <= _event_words(ev))
            ):
                out.append(copy.deepcopy(ev))
        out.reverse()
        return out

    # -- logs ------------------------------------------------------------------------------
    def append_log(self, entry: LogEntry) -> None:
        """Keep one log entry (thread-safe)."""
        with self._lock:
            self._logs.setdefault(entry.run_id, []).append(entry)

    async def list_logs(self, run_id: str, *, limit: int = 1000) -> list[LogEntry]:
        """The run's first ``limit`` log entries."""
        with self._lock:
            return list(self._logs.get(run_id, [])[:limit])

    # -- kv --------------------------------------------------------------------------------
    def _live(self, key: str) -> tuple[Any, float | None] | None:
        item = self._kv.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._kv[key]
            return None
        return item

    async def kv_get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Live values of the given keys."""
        out: dict[str, Any] = {}
        for key in keys:
            item = self._live(key)
            if item is not None:
                out[key] = copy.deepcopy(item[0])
        return out

    async def kv_set_many(self, items: Mapping[str, Any], *, expires_at: float | None) -> None:
        """Set several keys with one expiry."""
        for key, value in items.items():
            self._kv[key] = (copy.deepcopy(value), expires_at)

    async def kv_delete(self, key: str) -> bool:
        """Delete a key; whether it was live."""
        existed = self._live(key) is not None
        self._kv.pop(key, None)
        return existed

    async def kv_expire(self, key: str, expires_at: float | None) -> bool:
        """Change a live key's expiry."""
        item = self._live(key)
        if item is None:
            return False
        self._kv[key] = (item[0], expires_at)
        return True

    async def kv_scan(self, prefix: str) -> list[str]:
        """Live keys with the prefix, sorted."""
        return sorted(k for k in list(self._kv) if k.startswith(prefix) and self._live(k))

    async def kv_incr(self, key: str, amount: int) -> int:
        """Add to an integer value."""
        item = self._live(key)
        current = item[0] if item is not None else 0
        if not isinstance(current, int) or isinstance(current, bool):
            raise TypeError(f"kv key {key!r} holds {type(current).__name__}, not an integer")
        value = current + amount
        self._kv[key] = (value, item[1] if item is not None else None)
        return value

    # -- artifacts -------------------------------------------------------------------------
    async def add_artifact(self, artifact: Artifact) -> None:
        """Index an artifact."""
        self._artifacts[artifact.id] = copy.deepcopy(artifact)

    async def get_artifact(self, artifact_id: str) -> Artifact | None:
        """The artifact, or ``None``."""
        a = self._artifacts.get(artifact_id)
        return copy.deepcopy(a) if a is not None else None

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
        out = [
            copy.deepcopy(a)
            for a in reversed(self._artifacts.values())
            if (run_id is None or a.run_id == run_id)
            and (session_id is None or a.session_id == session_id)
            and (graph_id is None or a.graph_id == graph_id)
            and (node_id is None or a.node_id == node_id)
            and (kind is None or a.kind == kind)
            and (name is None or a.name == name)
            and (pinned is None or a.pinned == pinned)
            and all(k in a.labels and a.labels[k] == v for k, v in (labels or {}).items())
        ]
        out.sort(key=lambda a: a.created_at, reverse=True)
        return out[:limit]

    async def set_pinned(self, artifact_id: str, pinned: bool) -> bool:
        """Pin or unpin an artifact."""
        a = self._artifacts.get(artifact_id)
        if a is None:
            return False
        a.pinned = pinned
        return True

    # -- waits -----------------------------------------------------------------------------
    async def put_wait(self, record: WaitRecord) -> None:
        """Insert or replace a wait."""
        self._waits[record.wait_id] = copy.deepcopy(record)

    async def get_wait(self, wait_id: str) -> WaitRecord | None:
        """The wait, or ``None``."""
        w = self._waits.get(wait_id)
        return copy.deepcopy(w) if w is not None else None

    async def list_waits(
        self, *, run_id: str | None = None, status: WaitStatus | None = None
    ) -> list[WaitRecord]:
        """Matching waits, oldest first."""
        return [
            copy.deepcopy(w)
            for w in self._waits.values()
            if (run_id is None or w.run_id == run_id) and (status is None or w.status == status)
        ]
