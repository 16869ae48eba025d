"""``NodeContext``: the identity of the running node and its doors to the runtime's services.

It stays thin on purpose: five identity fields, one accessor per built-in service, and
``__getattr__`` for custom services. Built-in services are registry entries like custom ones (so
``override_context_service("memory", fake)`` works in tests); what they give a node is made on
first use and kept for the node.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid as _uuid_module
from typing import TYPE_CHECKING, Any

from aethergraph.services.artifacts import Artifacts
from aethergraph.services.channel import ChannelSession
from aethergraph.services.kv import KV
from aethergraph.services.llm import llm_service
from aethergraph.services.logger import RunLogger
from aethergraph.services.mcp import mcp_service
from aethergraph.services.memory import Memory
from aethergraph.services.runtime.registry import (
    BuiltinService,
    bind_builtin,
    register_builtin,
    resolve_service,
    service_accessor,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.core.engine.runner_service import Runner
    from aethergraph.services.llm import LLMClient
    from aethergraph.services.mcp import MCPClient

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

    def _builtin(self, name: str, keyed: bool = False) -> Any:
        bound = self._builtins.get(name)
        if bound is None:
            bound = self._builtins[name] = bind_builtin(name, self, keyed=keyed)
        return bound

    def logger(self) -> RunLogger:
        """A logger whose records carry this node's ids and are kept with the run."""
        return self._builtin("logger")  # type: ignore[no-any-return]

    def kv(self) -> KV:
        """The workspace's JSON key-value store."""
        return self._builtin("kv")  # type: ignore[no-any-return]

    def memory(self) -> Memory:
        """The event log, scoped to the session (or the run when there is none)."""
        return self._builtin("memory")  # type: ignore[no-any-return]

    def artifacts(self) -> Artifacts:
        """The content-addressed artifact store; what is saved records this node."""
        return self._builtin("artifacts")  # type: ignore[no-any-return]

    def channel(self, key: str | None = None) -> ChannelSession:
        """A channel to talk to people: ``console`` by default, or a configured key or alias."""
        return self._builtin("channel", keyed=True)(key)  # type: ignore[no-any-return]

    def runner(self) -> Runner:
        """Start, await and cancel child runs."""
        return self._builtin("runner")  # type: ignore[no-any-return]

    def llm(self, profile: str = "default") -> LLMClient:
        """A model client for ``profile``; its calls are recorded with the run."""
        return self._builtin("llm", keyed=True)(profile)  # type: ignore[no-any-return]

    def mcp(self, server: str) -> MCPClient:
        """A client of the MCP server registered as ``server``; its calls are recorded."""
        return self._builtin("mcp", keyed=True)(server)  # type: ignore[no-any-return]

    # -- journaled values: a resumed run gets back what the first run saw -----------------------
    @property
    def step_key(self) -> str:
        """A key naming this node stably across resumes (hand it to systems that deduplicate)."""
        return f"{self.run_id}/{self.node_id}"

    async def now(self) -> float:
        """The current time (seconds since the epoch), journaled: a replay sees the same."""
        return await self._run.run_step(self.node_id, "now", self._time)  # type: ignore[no-any-return]

    async def random(self) -> float:
        """A random float in [0, 1), journaled: a replay sees the same."""
        return await self._run.run_step(self.node_id, "random", _random)  # type: ignore[no-any-return]

    async def uuid(self) -> str:
        """A random UUID (hex), journaled: a replay sees the same."""
        return await self._run.run_step(self.node_id, "uuid", _uuid)  # type: ignore[no-any-return]

    async def sleep(self, seconds: float) -> None:
        """Sleep durably: the wake-up time is journaled; a resumed run sleeps only what is left."""
        clock = self._run.runtime.clock

        async def wake_at() -> float:
            return clock.time() + seconds

        wake = await self._run.run_step(self.node_id, "sleep", wake_at)
        remaining = wake - clock.time()
        if remaining > 0:
            try:
                async with clock.timeout(remaining):
                    await asyncio.Event().wait()
            except TimeoutError:
                pass

    async def _time(self) -> float:
        return self._run.runtime.clock.time()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        resolve_service(name)  # raises ServiceNotFoundError (an AttributeError) with suggestions
        accessor = self.__dict__[name] = service_accessor(name)
        return accessor


async def _random() -> float:
    return secrets.SystemRandom().random()


async def _uuid() -> str:
    return _uuid_module.uuid4().hex


class _StorageFacade(BuiltinService):
    """A built-in whose per-node object is made from the node and the run's storage."""

    def __init__(self, make: Callable[[NodeContext, Any, RunState], Any]) -> None:
        self._make = make

    def bind(self, ctx: NodeContext) -> Any:
        """The node's facade (it reports what it does on the run's event stream)."""
        run = ctx._run
        return self._make(ctx, run.storage, run)


class _Channels(BuiltinService):
    """``channel(key)``: a session on the channel ``key`` for the node."""

    def bind(self, ctx: NodeContext) -> Callable[[str | None], ChannelSession]:
        """A function of the channel key."""
        run = ctx._run

        def session(key: str | None = None) -> ChannelSession:
            return ChannelSession(ctx, run.storage, run.waits, key)

        return session


register_builtin("logger", _StorageFacade(RunLogger))


def _kv(_ctx: NodeContext, storage: Any, run: RunState) -> KV:
    return KV(storage, run.runtime.clock.time)


register_builtin("kv", _StorageFacade(_kv))
register_builtin("memory", _StorageFacade(Memory))
register_builtin("artifacts", _StorageFacade(Artifacts))
register_builtin("channel", _Channels())
register_builtin("llm", llm_service)
register_builtin("mcp", mcp_service)
