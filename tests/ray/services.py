"""Services the Ray tests register by import path (``tests.ray.services:...``)."""

from __future__ import annotations

import os
from typing import Any

from aethergraph import graph_fn

BUILT: list[int] = []
"""Pids of the processes that built a ``Tagger`` (one entry per build)."""


class Tagger:
    """A worker-scoped service: says which process and instance answered, for which run."""

    def __init__(self) -> None:
        BUILT.append(os.getpid())

    def tag(self, run_id: str) -> dict[str, Any]:
        return {"pid": os.getpid(), "instance": id(self), "builds": len(BUILT), "run": run_id}


class Counter:
    """A cluster-scoped service: one count for the whole cluster."""

    def __init__(self) -> None:
        self.value = 0

    async def incr(self) -> int:
        self.value += 1
        return self.value


@graph_fn(name="ray_tagged")
async def tagged(*, context: Any) -> dict[str, Any]:
    return context.tagger().tag(context.run_id)


@graph_fn(name="ray_counted")
async def counted(*, context: Any) -> dict[str, Any]:
    return {"count": await context.counter().incr()}
