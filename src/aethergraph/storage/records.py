"""The records AetherGraph keeps: runs, run events, nodes, memory events, logs, artifacts, waits.

Records are plain dataclasses whose payload fields hold JSON values; every backend stores and gives
them unchanged. Statuses are ``StrEnum``s with an explicit transition table.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Artifact",
    "Event",
    "LogEntry",
    "NodeRecord",
    "NodeStatus",
    "RunEvent",
    "RunRecord",
    "RunStatus",
    "WaitRecord",
    "WaitStatus",
    "words",
]

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``: how every backend tokenises events and text queries."""
    return [w.lower() for w in _WORD.findall(text)]


class RunStatus(StrEnum):
    """Where a run is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether nothing more will happen to the run (resuming an interrupted one starts anew)."""
        return self in _TERMINAL_RUN

    def can_become(self, new: RunStatus) -> bool:
        """Whether the transition table allows moving from this status to ``new``."""
        # Keyed by the plain string and searched by identity: hashing an enum member runs
        # Python code, and this check is on every run's path.
        return new in _RUN_ALLOWED[self._value_]


_TERMINAL_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
_RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.INTERRUPTED}
    ),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.WAITING,
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    RunStatus.WAITING: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.INTERRUPTED,
        }
    ),
    # A failed or interrupted run may be resumed with the same run id.
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),
    RunStatus.INTERRUPTED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


_RUN_ALLOWED = {k.value: tuple(v) for k, v in _RUN_TRANSITIONS.items()}


class NodeStatus(StrEnum):
    """Where a node is in its life."""

    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the node has finished, one way or another."""
        return self in _TERMINAL_NODE

    def can_become(self, new: NodeStatus) -> bool:
        """Whether the transition table allows moving from this status to ``new``."""
        return new in _NODE_ALLOWED[self._value_]


_TERMINAL_NODE = frozenset(
    {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED}
)
_NODE_TRANSITIONS: dict[NodeStatus, frozenset[NodeStatus]] = {
    NodeStatus.RUNNING: frozenset(
        {NodeStatus.WAITING, NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.CANCELLED}
    ),
    # A node with an open question waits; a run left waiting keeps it so until resumed.
    NodeStatus.WAITING: frozenset({NodeStatus.RUNNING, NodeStatus.FAILED, NodeStatus.CANCELLED}),
    # Resuming a run (or retrying a node) runs failed, cancelled and skipped nodes again.
    NodeStatus.FAILED: frozenset({NodeStatus.RUNNING}),
    NodeStatus.CANCELLED: frozenset({NodeStatus.RUNNING}),
    NodeStatus.SKIPPED: frozenset({NodeStatus.RUNNING}),
    NodeStatus.SUCCEEDED: frozenset(),
}


_NODE_ALLOWED = {k.value: tuple(v) for k, v in _NODE_TRANSITIONS.items()}


@dataclass(slots=True)
class RunRecord:
    """One run of a graph_fn or a task graph."""

    run_id: str
    graph_id: str
    status: RunStatus
    kind: str = "graph_fn"
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    parent_run_id: str | None = None
    session_id: str | None = None
    owner: str | None = None
    """Which process runs it (``host:pid:boot``); a dead owner means the run was interrupted."""
    graph_digest: str | None = None
    """A digest of the task graph's structure, so a resume can tell that the graph changed."""

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class RunEvent:
    """One change a run went through, numbered per run from 1."""

    run_id: str
    seq: int
    ts: float
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class NodeRecord:
    """One node of a run: a tool call inside a graph_fn, or a node of a task graph."""

    run_id: str
    node_id: str
    tool: str
    status: NodeStatus
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class Event:
    """A memory event: something a node recorded, with its provenance."""

    id: str
    ts: float
    kind: str
    scope_id: str
    topic: str | None = None
    data: Any = None
    text: str | None = None
    tags: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: list[dict[str, Any]] | None = None
    outputs: list[dict[str, Any]] | None = None
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    session_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict."""
        return asdict(self)

    @property
    def event_id(self) -> str:
        """The event's id (the published API's name for ``id``)."""
        return self.id

    @property
    def severity(self) -> int:
        """The severity given to ``record()``/``write_result()``; kept as tag ``severity:<n>``."""
        value = self._tagged("severity")
        return int(value) if value is not None and value.lstrip("-").isdigit() else 2

    @property
    def stage(self) -> str | None:
        """The stage given to ``record()``; kept as tag ``stage:<stage>``."""
        return self._tagged("stage")

    @property
    def signal(self) -> str | None:
        """The signal given to ``record()``; kept as tag ``signal:<signal>``."""
        return self._tagged("signal")

    @property
    def inputs_ref(self) -> Any:
        """The ``inputs_ref`` given to ``record()``; kept as its ``inputs`` entry of kind ref."""
        return _ref_entry(self.inputs, "inputs_ref")

    @property
    def outputs_ref(self) -> Any:
        """The ``outputs_ref`` given to ``record()``; kept as its ``outputs`` entry of kind ref."""
        return _ref_entry(self.outputs, "outputs_ref")

    def _tagged(self, name: str) -> str | None:
        prefix = f"{name}:"
        for tag in self.tags:
            if tag.startswith(prefix):
                return tag[len(prefix) :]
        return None


def _ref_entry(entries: list[dict[str, Any]] | None, name: str) -> Any:
    for entry in entries or ():
        if entry.get("name") == name and entry.get("kind") == "ref":
            return entry.get("value")
    return None


@dataclass(slots=True)
class LogEntry:
    """A log record kept with its run."""

    run_id: str
    ts: float
    level: str
    message: str
    node_id: str | None = None
    graph_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict."""
        return asdict(self)


@dataclass(slots=True)
class Artifact:
    """An indexed artifact; its bytes live in the content-addressed store under ``sha256``."""

    id: str
    uri: str
    sha256: str
    size: int
    kind: str
    created_at: float
    name: str | None = None
    mime: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    suggested_uri: str | None = None
    pinned: bool = False
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    session_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The artifact's index entry as a JSON-ready dict."""
        return asdict(self)


class WaitStatus(StrEnum):
    """Whether a wait still needs its answer."""

    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class WaitRecord:
    """A durable continuation: a node waiting for a human's answer."""

    wait_id: str
    run_id: str
    node_id: str
    kind: str
    prompt: str
    status: WaitStatus = WaitStatus.OPEN
    options: list[str] | None = None
    channel: str = "console"
    created_at: float = 0.0
    deadline: float | None = None
    reply: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The wait as a JSON-ready dict."""
        return asdict(self)
