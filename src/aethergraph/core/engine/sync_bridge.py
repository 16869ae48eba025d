"""Calling the async runtime from synchronous code, on the loop that owns the services."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from aethergraph.core.engine.host import get_host
from aethergraph.errors import ConfigurationError
from aethergraph.services.runtime.registry import close_services

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["call_sync"]

T = TypeVar("T")


def call_sync(
    make: Callable[[], Coroutine[Any, Any, T]], *, what: str, async_name: str, close: bool
) -> T:
    """Run the coroutine made by ``make`` to completion and return its result.

    With a server running, it runs on the server's loop (so services stay on one loop). Otherwise
    it runs under a fresh ``asyncio.run``, after which services it started are closed when
    ``close`` is set.
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
    owner = get_host().owner_loop
    if owner is not None and owner.is_running():
        return asyncio.run_coroutine_threadsafe(make(), owner).result()
    if not close:
        return asyncio.run(make())

    async def then_close() -> T:
        try:
            return await make()
        finally:
            await close_services()

    return asyncio.run(then_close())
