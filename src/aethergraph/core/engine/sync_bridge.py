"""Calling the async runtime from synchronous code, on the loop that owns the services."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ConfigurationError
from aethergraph.services.runtime.registry import close_services

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

__all__ = ["call_sync", "on_loop", "sync_twin"]

T = TypeVar("T")
P = ParamSpec("P")


def _services_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop that owns the services: the server's, else one that is running runs.

    A sync call from a worker thread (say, inside ``run_blocking``) then joins that loop instead
    of starting, and later closing, a second set of services on a loop of its own.
    """
    runtime = current_runtime()
    if runtime.owner_loop is not None and runtime.owner_loop.is_running():
        return runtime.owner_loop
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


def call_sync(
    make: Callable[[], Coroutine[Any, Any, T]], *, what: str, async_name: str, close: bool
) -> T:
    """Run the coroutine made by ``make`` to completion and return its result.

    With a server running, or runs live on a loop of another thread, it runs on that loop (so
    services stay on one loop). Otherwise it runs under a fresh ``asyncio.run``, after which
    services it started are closed when ``close`` is set.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigurationError(
            f"{what}() is synchronous and an event loop is already running in this thread; "
            f"use `await {async_name}(...)` instead"
        )
    owner = _services_loop()
    if owner is not None:
        return on_loop(owner, make(), contextvars.copy_context()).result()
    if not close:
        return asyncio.run(make())

    async def then_close() -> T:
        try:
            return await make()
        finally:
            await close_services()

    return asyncio.run(then_close())


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
