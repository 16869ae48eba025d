"""``NodeContext``: the identity of the running node and its doors to the runtime's services.

It stays thin on purpose: five identity fields, one accessor per built-in service, and
``__getattr__`` for custom services. Built-in facades are made on first use and kept for the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aethergraph.services.artifacts import Artifacts
from aethergraph.services.channel import ChannelSession
from aethergraph.services.kv import KV
from aethergraph.services.logger import RunLogger
from aethergraph.services.memory import Memory
from aethergraph.services.runtime.registry import resolve_service, service_accessor

if TYPE_CHECKING:
    from collections.abc import Callable

    from aethergraph.core.engine.run_state import RunState
    from aethergraph.core.engine.runner_service import Runner

__all__ = ["NodeContext"]


class NodeContext:
    """What a node's code receives as ``context``: who it is, and the services it may use."""

    def __init__(self, run: RunState, node_id: str) -> None:
        self.run_id: str = run.run_id
        self.graph_id: str = run.graph_id
        self.node_id: str = node_id
        self.session_id: str | None = run.session_id
        self.parent_run_id: str | None = run.parent_run_id
        self._run = run
        self._builtins: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"NodeContext(run_id={self.run_id!r}, graph_id={self.graph_id!r}, "
            f"node_id={self.node_id!r})"
        )

    def logger(self) -> RunLogger:
        """A logger whose records carry this node's ids and are kept with the run."""
        log = self._builtins.get("logger")
        if log is None:
            log = self._builtins["logger"] = RunLogger(self, self._run.storage)
        return log

    def kv(self) -> KV:
        """The workspace's JSON key-value store."""
        kv = self._builtins.get("kv")
        if kv is None:
            kv = self._builtins["kv"] = KV(self._run.storage)
        return kv

    def memory(self) -> Memory:
        """The event log, scoped to the session (or the run when there is none)."""
        mem = self._builtins.get("memory")
        if mem is None:
            mem = self._builtins["memory"] = Memory(self, self._run.storage)
        return mem

    def artifacts(self) -> Artifacts:
        """The content-addressed artifact store; what is saved records this node."""
        arts = self._builtins.get("artifacts")
        if arts is None:
            arts = self._builtins["artifacts"] = Artifacts(self, self._run.storage)
        return arts

    def channel(self, key: str | None = None) -> ChannelSession:
        """A channel to talk to people: ``console`` by default, or a configured key or alias."""
        return ChannelSession(self, self._run.storage, self._run.waits, key)

    def runner(self) -> Runner:
        """Start, await and cancel child runs."""
        from aethergraph.core.engine.runner_service import Runner

        runner = self._builtins.get("runner")
        if runner is None:
            runner = self._builtins["runner"] = Runner(self)
        return runner

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        resolve_service(name)  # raises ServiceNotFoundError (an AttributeError) with suggestions
        accessor = self.__dict__[name] = service_accessor(name)
        return accessor
