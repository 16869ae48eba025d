"""Who is calling a built-in service: the identity every record it writes is stamped with."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["EventSink", "NodeScope"]


class EventSink(Protocol):
    """Where a built-in service reports what it did: the run's event stream."""

    def publish(self, type: str, data: dict[str, Any], ts: float | None = None) -> None:
        """Append an event (thread-safe; ``data`` must be JSON)."""


class NodeScope(Protocol):
    """The identity of a node; ``NodeContext`` satisfies it."""

    @property
    def run_id(self) -> str:
        """The run the node belongs to."""

    @property
    def graph_id(self) -> str:
        """The graph (graph_fn or task graph name) being run."""

    @property
    def node_id(self) -> str:
        """The node within the run."""

    @property
    def session_id(self) -> str | None:
        """The session the run belongs to, if any."""
