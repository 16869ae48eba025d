"""Calling the async runtime from synchronous code, on the loop that owns the services."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ConfigurationError
from aethergraph.services.runtime.base import _current_context
from aethergraph.services.runtime.registry import close_services

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from aethergraph.core.engine.runtime import Runtime

__all__ = ["call_sync", "on_loop", "sync_twin"]

T = TypeVar("T")
P = ParamSpec("P")


def _live_loop(runtime: Runtime) -> asyncio.AbstractEventLoop | None:
    """A running loop of this process that runs runs (a worker thread's caller, say)."""
    for state in runtime.all_live():
        task = state.task
        if task is not None and not task.done():
            loop = task.get_loop()
            if loop.is_running():
                return loop
    return None


def on_loop(
    loop: asyncio.AbstractEventLoop,
    work: Coroutine[Any, Any, T],
    context: contextvars.Context,
) -> concurrent.futures.Future[T]:
    """Run ``work`` as a task on ``loop`` (another thread's) in ``context``; a future of its result.

    The context travels with it, so the current runtime and service overrides of the caller
    apply on the loop that owns the services.
    """
    result: concurrent.futures.Future[T] = concurrent.futures.Future()

    def begin() -> None:
        task = loop.create_task(work, context=context)

        def done(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                result.cancel()
            elif (error := t.exception()) is not None:
                result.set_exception(error)
            else:
                result.set_result(t.result())

        task.add_done_callback(done)

    loop.call_soon_threadsafe(begin)
    return result


class _Host:
    """The loop that sync calls share while no server runs: the first caller's, until all end.

    The first thread to call the sync API runs a loop and hosts its own call there; threads that
    call while it still runs join that loop as guests, so every call shares one loop (and one set
    of services), and the host ends its loop (closing services) only once the last guest ended.
    """

    __slots__ = ("close", "closing", "done", "guests", "idle", "loop", "ready")

    def __init__(self, close: bool) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.close = close
        self.guests = 0
        self.closing = False
        self.idle: asyncio.Event | None = None
        self.ready = threading.Event()
        """Set once ``loop`` runs: guests that came first wait for it."""
        self.done = threading.Event()


_host_lock = threading.Lock()
_host: _Host | None = None


def call_sync(
    make: Callable[[], Coroutine[Any, Any, T]], *, what: str, async_name: str, close: bool
) -> T:
    """Run the coroutine made by ``make`` to completion and return its result.

    With a server running, or runs live on a loop of another thread, it runs on that loop (so
    services stay on one loop). Otherwise it runs on a loop that all threads calling the sync API
    at that moment share; the services started there are closed when the last of them ends (and
    one of them had ``close`` set). A thread that runs an event loop itself (a notebook cell)
    blocks until the call, run on a loop in another thread, returns.
    """
    global _host
    context = contextvars.copy_context()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    runtime = current_runtime()
    while True:
        owner = runtime.owner_loop
        if owner is None or not owner.is_running():
            owner = None if _host is not None else _live_loop(runtime)
        if owner is not None and owner is not running:
            return on_loop(owner, make(), context).result()
        with _host_lock:
            host = _host
            if host is None:
                if running is not None and _current_context.get() is not None:
                    _refuse_blocking(running, running, what, async_name)
                host = _host = _Host(close)
                hosting = True
            elif not host.closing:
                _refuse_blocking(host.loop, running, what, async_name)
                host.guests += 1
                host.close = host.close or close
                hosting = False
            else:
                hosting = None
        if hosting is None:
            host.done.wait()  # the host is closing: the next call starts a loop of its own
            continue
        if hosting:
            if running is None:
                return _run_as_host(host, make, context)
            return _in_thread(functools.partial(_run_as_host, host, make, context))
        host.ready.wait()
        loop = host.loop
        if loop is None or host.done.is_set():
            continue  # its loop failed to start, or already ended
        return on_loop(loop, _as_guest(host, make()), context).result()


def _refuse_blocking(
    target: asyncio.AbstractEventLoop | None,
    running: asyncio.AbstractEventLoop | None,
    what: str,
    async_name: str,
) -> None:
    """A sync call cannot wait on the loop it would block: say to await the async twin."""
    if target is not None and target is running:
        raise ConfigurationError(
            f"{what}() is synchronous, and the event loop is already running runs in this "
            f"thread (it was called from a node, say), which waiting would block; use "
            f"`await {async_name}(...)` instead"
        )


async def _as_guest(host: _Host, work: Coroutine[Any, Any, T]) -> T:
    try:
        return await work
    finally:
        with _host_lock:
            host.guests -= 1
            if host.guests == 0 and host.idle is not None:
                host.idle.set()


def _run_as_host(
    host: _Host, make: Callable[[], Coroutine[Any, Any, T]], context: contextvars.Context
) -> T:
    async def hosted() -> T:
        host.idle = idle = asyncio.Event()
        host.loop = asyncio.get_running_loop()
        host.ready.set()
        try:
            return await make()
        finally:
            await _after_guests(host, idle)

    try:
        return context.run(asyncio.run, hosted())
    except KeyboardInterrupt:
        # asyncio raises it while handling the cancelled task: one traceback is enough.
        raise KeyboardInterrupt from None
    finally:
        _release(host)


async def _after_guests(host: _Host, idle: asyncio.Event) -> None:
    """Wait until every guest ended, then close the services (new callers wait for that)."""
    while True:
        with _host_lock:
            if host.guests == 0:
                host.closing = True
                break
            idle.clear()
        await idle.wait()
    if host.close:
        await close_services()


def _release(host: _Host) -> None:
    global _host
    with _host_lock:
        host.closing = True
        if _host is host:
            _host = None
    host.ready.set()  # a guest that came as the loop failed to start sees no loop, and retries
    host.done.set()


def _in_thread(call: Callable[[], T]) -> T:
    """``call()`` in a new thread, for a caller whose own thread runs an event loop."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aethergraph-sync") as pool:
        return pool.submit(call).result()


def sync_twin(fn: Callable[P, Awaitable[T]], *, close: bool = False) -> Callable[P, T]:
    """A synchronous version of the async API function ``fn`` (named without ``_async``).

    ``close`` closes the services the call started when it ran on a loop of its own (for calls
    that may run graphs, like ``reply``).
    """
    name = fn.__name__.removesuffix("_async")

    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        async def call() -> T:
            return await fn(*args, **kwargs)

        return call_sync(call, what=name, async_name=fn.__name__, close=close)

    twin.__name__ = twin.__qualname__ = name
    twin.__doc__ = f"Synchronous ``{fn.__name__}``."
    return twin
