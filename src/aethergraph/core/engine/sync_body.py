"""The body of a synchronous graph_fn or tool, called so that a forgotten ``await`` is caught.

A sync function that calls an async method (``context.memory().record(...)``, a custom service's
``async def``) gets a coroutine back and drops it: the call never runs, and Python only warns
``coroutine ... was never awaited`` when it is collected, which in CPython is at once. The body is
called with those warnings recorded, and a dropped coroutine fails the node with an error that
names it and says how to fix it. Other warnings are passed on unchanged.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any

from aethergraph.errors import GraphDefinitionError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["sync_body"]


def sync_body(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    """``fn`` (a sync function declared as ``where``) made to fail on a coroutine it dropped."""
    return functools.partial(_call, fn, where)


def _call(fn: Callable[..., Any], where: str, /, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = fn(*args, **kwargs)
    dropped = []
    for w in caught:
        if issubclass(w.category, RuntimeWarning) and "was never awaited" in str(w.message):
            dropped.append(str(w.message).split("'")[1] if "'" in str(w.message) else "?")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if dropped:
        names = ", ".join(repr(d) for d in dropped)
        raise GraphDefinitionError(
            f"{where} is a sync function and called the async {names} without awaiting it, so "
            "that call never ran. Make the function `async def` and `await` the call (or run "
            "it with asyncio.run in a thread of your own)"
        )
    return result
