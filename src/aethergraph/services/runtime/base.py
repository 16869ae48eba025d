"""The base class for custom services: the calling node's context, a mutex, blocking work, RW locks.

A service is one long-lived object shared by every node of every run, so anything that depends on
*who* is calling is looked up at call time: ``ctx()`` reads a context variable that the engine sets
for each node, which is why it stays correct under any number of concurrent runs.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from aethergraph.core.engine.context import NodeContext

__all__ = ["AsyncRWLock", "BaseContextService", "Service", "current_context"]

P = ParamSpec("P")
R = TypeVar("R")

_current_context: ContextVar[NodeContext | None] = ContextVar(
    "aethergraph_node_context", default=None
)


def current_context() -> NodeContext | None:
    """The NodeContext of the node whose code is running in this task, or ``None``."""
    return _current_context.get()


class _LoopLock:
    """An asyncio.Lock that is remade when used from a new event loop.

    asyncio primitives bind to the loop that first waits on them; a service outlives
    ``asyncio.run()`` calls, so its lock must not.
    """

    __slots__ = ("_lock", "_loop")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    def get(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                self._lock = asyncio.Lock()
            self._loop = loop
        return self._lock


def _wrap_critical(
    fn: Callable[..., Any], lock_of: Callable[[tuple[Any, ...]], asyncio.Lock]
) -> Any:
    @functools.wraps(fn)
    async def locked(*args: Any, **kwargs: Any) -> Any:
        async with lock_of(args):
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

    return locked


class _Critical:
    """``critical``: ``@Service.critical``, ``@Service.critical()`` or ``self.critical()``."""

    def __get__(self, obj: Service | None, owner: type[Service]) -> Callable[..., Any]:
        if obj is None:
            # Class body: the lock belongs to the instance the method is later called on.
            def for_methods(fn: Callable[..., Any] | None = None) -> Any:
                def decorate(f: Callable[..., Any]) -> Any:
                    return _wrap_critical(f, lambda args: _instance_lock(args[0]))

                return decorate if fn is None else decorate(fn)

            return for_methods

        def for_instance(fn: Callable[..., Any] | None = None) -> Any:
            def decorate(f: Callable[..., Any]) -> Any:
                return _wrap_critical(f, lambda _args: obj._lock)

            return decorate if fn is None else decorate(fn)

        return for_instance


def _instance_lock(obj: Any) -> asyncio.Lock:
    if not isinstance(obj, Service):
        raise TypeError(
            "Service.critical decorates methods of a Service subclass; "
            f"it was called with {type(obj).__name__} as self"
        )
    return obj._lock


def _step(fn: Callable[..., Any] | None = None, *, idempotency_key: bool = False) -> Any:
    """Mark a service method as a journaled step: ``@Service.step`` or ``@Service.step(...)``.

    Called from a run, the method's result is recorded before it is returned, and a run resumed
    after a crash gets the recorded result back instead of calling again. Inside the call,
    ``self.ctx().step_key`` names the step stably across resumes; with
    ``idempotency_key=True`` it is also passed as the keyword argument ``idempotency_key``, for
    the external system to deduplicate a call repeated after a crash in the middle of a step.
    Outside a run the method is called as it is.
    """

    def decorate(method: Callable[..., Any]) -> Any:
        @functools.wraps(method)
        async def journaled(self: Any, *args: Any, **kwargs: Any) -> Any:
            async def call() -> Any:
                if idempotency_key:
                    kwargs["idempotency_key"] = _current_context.get().step_key  # type: ignore[union-attr]
                result = method(self, *args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            ctx = _current_context.get()
            if ctx is None:
                return await call()
            name = f"{type(self).__name__}.{method.__name__}"
            return await ctx._run.run_step(ctx.node_id, name, call)

        journaled.__aethergraph_step__ = True  # type: ignore[attr-defined]
        return journaled

    return decorate if fn is None else decorate(fn)


class Service:
    """Base class for services reachable as ``context.<name>()``.

    Subclasses may define ``async start()`` and ``async close()``; the runtime awaits ``start()``
    once before a run can use the service and ``close()`` when services are closed. Methods
    decorated ``@Service.step``, or named in the class attribute ``steps = ("submit", ...)``,
    are journaled steps of the graph_fn runs that call them.
    """

    step = staticmethod(_step)
    steps: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("steps", ()):
            method = getattr(cls, name, None)
            if method is None or not callable(method):
                raise TypeError(
                    f"{cls.__name__}.steps names {name!r}, which is not a method of the class"
                )
            if not getattr(method, "__aethergraph_step__", False):
                setattr(cls, name, _step(method))

    critical = _Critical()
    """A per-instance async mutex as a decorator: ``self.m = self.critical()(self.m)``,
    ``@Service.critical`` or ``@Service.critical()`` on methods. Sync methods become awaitable.
    The lock is not re-entrant: a critical method must not await another critical method of
    the same instance."""

    @property
    def _lock(self) -> asyncio.Lock:
        """This instance's mutex (bound to the running event loop)."""
        holder = self.__dict__.get("_aethergraph_lock")
        if holder is None:
            holder = self.__dict__["_aethergraph_lock"] = _LoopLock()
        if isinstance(holder, _LoopLock):
            return holder.get()
        return holder  # type: ignore[no-any-return]

    @_lock.setter
    def _lock(self, lock: asyncio.Lock) -> None:
        self.__dict__["_aethergraph_lock"] = lock

    def ctx(self) -> NodeContext:
        """The NodeContext of the node whose code is calling this service right now.

        Raises:
            RuntimeError: when called outside any node (for instance at import time or from a
                thread not started by ``run_blocking``).
        """
        ctx = _current_context.get()
        if ctx is None:
            raise RuntimeError(
                f"{type(self).__name__}.ctx() was called outside a node: there is no current run. "
                "Call it from code running inside a graph_fn or tool (threads started with "
                "self.run_blocking carry the context along)."
            )
        return ctx

    async def run_blocking(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking ``fn`` in a worker thread; ``self.ctx()`` keeps working inside it."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def start(self) -> None:
        """Open connections, warm caches: awaited once before the first run that can use it."""

    async def close(self) -> None:
        """Release what ``start()`` opened: awaited once by ``close_services()``."""


BaseContextService = Service


class AsyncRWLock:
    """Many readers or one writer; a waiting writer goes before readers that arrive after it."""

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._cond is None or loop is not self._loop:
            self._cond, self._loop = asyncio.Condition(), loop
        return self._cond

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """Hold the lock as one of possibly many readers."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: not self._writer and self._writers_waiting == 0)
            self._readers += 1
        try:
            yield
        finally:
            async with cond:
                self._readers -= 1
                cond.notify_all()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """Hold the lock alone."""
        cond = self._condition()
        async with cond:
            self._writers_waiting += 1
            try:
                await cond.wait_for(lambda: not self._writer and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            async with cond:
                self._writer = False
                cond.notify_all()
