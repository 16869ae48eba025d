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


@graph_fn(name="ray_dies_at_once")
async def dies_at_once() -> dict[str, Any]:
    """Ends its worker's process as it starts, before the worker has written anything of it."""
    os._exit(1)


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


@tool(outputs=["pid", "twice"], name="ray_placed_cpu", resources={"num_cpus": 1})
def placed_cpu(x: int) -> dict[str, int]:
    return {"pid": os.getpid(), "twice": 2 * x}


@tool(outputs=["pid", "shout"], name="ray_placed_trainer", resources={"trainer": 1})
async def placed_trainer(text: str) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"pid": os.getpid(), "shout": text.upper()}


@tool(name="ray_placed_fails", resources={"num_cpus": 1})
def placed_fails(why: str) -> None:
    raise ValueError(why)


@graph_fn(name="ray_placing")
async def placing(x: int, text: str) -> dict[str, Any]:
    cpu = await placed_cpu(x)
    trainer = await placed_trainer(text)
    return {
        "worker_pid": os.getpid(),
        "cpu_pid": cpu["pid"],
        "twice": cpu["twice"],
        "trainer_pid": trainer["pid"],
        "shout": trainer["shout"],
    }


@graph_fn(name="ray_placing_fails")
async def placing_fails(why: str) -> dict[str, Any]:
    await placed_fails(why)
    return {}


@graphify(name="ray_placed_graph", inputs=["x"], outputs=["twice", "pid"])
def placed_graph(x):  # type: ignore[no-untyped-def]
    node = placed_cpu(x)
    return {"twice": node.twice, "pid": node.pid}


@graph_fn(name="ray_ask")
async def ask(question: str, *, context: NodeContext) -> dict[str, Any]:
    answer = await context.channel().ask_text(question)
    return {"answer": answer, "pid": os.getpid()}


@tool(outputs=["answer", "pid"], name="ray_ask_tool")
async def ask_tool(question: str, *, context: NodeContext) -> dict[str, Any]:
    return {"answer": await context.channel().ask_text(question), "pid": os.getpid()}


@graphify(name="ray_ask_graph", inputs=["question"], outputs=["answer", "pid"])
def ask_graph(question):  # type: ignore[no-untyped-def]
    node = ask_tool(question)
    return {"answer": node.answer, "pid": node.pid}


@graph_fn(name="ray_ask_briefly")
async def ask_briefly(question: str, *, context: NodeContext) -> dict[str, Any]:
    answer = await context.channel().ask_text(question, timeout_s=1.0, default="no answer")
    return {"answer": answer, "pid": os.getpid()}
