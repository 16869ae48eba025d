"""Graphs the server and CLI tests run; loadable with ``aethergraph serve --load-path``.

``prep`` and ``finish`` of the ``approval`` graph append their names to the file named by
``AG_TEST_SIDE_EFFECTS`` (when set), so a test can tell how often each ran across processes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aethergraph import NodeContext, graph_fn, graphify, tool
from aethergraph.tools import ask_approval


def _side_effect(name: str) -> None:
    path = os.environ.get("AG_TEST_SIDE_EFFECTS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")


@tool(outputs=["total"], name="srv_add")
def add(a: int, b: int) -> dict[str, Any]:
    return {"total": a + b}


@tool(outputs=["value"], name="srv_double")
def double(x: int) -> dict[str, Any]:
    return {"value": 2 * x}


@graphify(name="arith", inputs=["a", "b"])
def arith(a, b):  # type: ignore[no-untyped-def]
    total = add(a, b)
    doubled = double(total.total)
    return {"result": doubled.value}


@tool(outputs=["never"], name="srv_explode")
def explode(reason: str) -> dict[str, Any]:
    raise ValueError(f"exploded: {reason}")


@graphify(name="breaks", inputs=["reason"])
def breaks(reason):  # type: ignore[no-untyped-def]
    first = add(1, 2)
    return {"never": explode(reason, _after=first).never}


@tool(outputs=["text"], name="srv_polish")
async def polish(text: str) -> dict[str, Any]:
    return {"text": text.strip().title()}


@graph_fn(name="greet", outputs=["greeting"])
async def greet(name: str, *, context: NodeContext) -> dict[str, Any]:
    """Greet someone, and leave a log line, a memory event and two artifacts behind."""
    name = (await polish(name))["text"]
    context.logger().info("greeting %s", name)
    await context.memory().record("greeting", {"name": name}, text=f"greeted {name}")
    await context.artifacts().save_text(f"hello {name}", name="greeting.txt")
    await context.artifacts().save_json({"name": name}, name="greeting.json")
    return {"greeting": f"hello {name}"}


@graph_fn(name="trivial")
async def trivial(x: int = 0) -> dict[str, Any]:
    return {"x": x}


@graph_fn(name="slow")
async def slow(seconds: float = 30.0) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@tool(outputs=["ticket"], name="srv_prep")
def prep(item: str) -> dict[str, Any]:
    _side_effect("prep")
    return {"ticket": f"T-{item}"}


@tool(outputs=["status"], name="srv_finish")
def finish(ticket: str, choice: str) -> dict[str, Any]:
    _side_effect("finish")
    return {"status": f"{ticket} {choice}"}


@graphify(name="approval", inputs=["item"])
def approval(item):  # type: ignore[no-untyped-def]
    ticket = prep(item)
    answer = ask_approval("Ship it?", options=["Ship", "Hold"], _id="approve", _after=ticket)
    done = finish(ticket.ticket, answer.choice)
    return {"status": done.status}
