"""Graphs the Ray workers import by module path (``tests.ray.graphs``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aethergraph import graph_fn, graphify, tool

if TYPE_CHECKING:
    from aethergraph.core.engine.context import NodeContext


@graph_fn(name="ray_echo")
async def echo(i: int) -> dict[str, Any]:
    return {"i": i, "pid": os.getpid()}


@graph_fn(name="ray_block")
async def block() -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


@tool(outputs=["value"], name="ray_step")
async def step(n: int, value: int, folder: str) -> dict[str, int]:
    """Add ``n``; node 10 blocks on its first attempt, until its worker is killed."""
    root = Path(folder)
    with (root / "ran.txt").open("a") as ran:
        ran.write(f"{n} {os.getpid()}\n")
    if n == 10 and not (root / "blocked").exists():
        (root / "blocked").touch()
        await asyncio.Event().wait()
    return {"value": value + n}


@graphify(name="ray_chain", inputs=["folder"], outputs=["value"])
def chain(folder):  # type: ignore[no-untyped-def]
    value = step(0, 0, folder).value
    for n in range(1, 20):
        value = step(n, value, folder).value
    return {"value": value}


@graph_fn(name="ray_save")
async def save(text: str, *, context: NodeContext) -> dict[str, Any]:
    artifact = await context.artifacts().save_text(text)
    return {"id": artifact.id, "pid": os.getpid()}
