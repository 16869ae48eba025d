"""W3: a graph_fn calling 100 trivial ``@tool``s in sequence, with node records kept.

Reported per step. Ratio: against awaiting the same plain async function 100 times.
"""

from __future__ import annotations

import tempfile

from harness import report, timed_async

from aethergraph import graph_fn, run_async, tool
from aethergraph.core.engine.host import get_host
from aethergraph.testing import memory_runtime

STEPS = 100
RUNS = 50


async def plain_inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@tool(outputs=["y"])
async def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@graph_fn(name="w3_chain")
async def chain() -> dict[str, int]:
    x = 0
    for _ in range(STEPS):
        x = (await inc(x=x))["y"]
    return {"x": x}


async def plain_loop() -> None:
    for _ in range(RUNS):
        x = 0
        for _ in range(STEPS):
            x = (await plain_inc(x))["y"]


async def runs() -> None:
    for _ in range(RUNS):
        await run_async(chain)


def main() -> None:
    ops = RUNS * STEPS
    raw = timed_async(plain_loop, ops=ops)
    with memory_runtime() as storage:
        mem = timed_async(runs, ops=ops)
        some_run = (storage._runs and next(iter(storage._runs))) or ""
        assert len(storage._nodes[some_run]) == STEPS  # node records are kept
    host = get_host()
    saved = host.snapshot()
    with tempfile.TemporaryDirectory() as ws:
        host.configure(workspace=ws)
        disk = timed_async(runs, ops=ops)
        host.restore(saved)
    rows = [
        {"case": "plain await (raw)", "us_per_step": raw * 1e6, "ratio": 1.0},
        {"case": "tool node, memory", "us_per_step": mem * 1e6, "ratio": mem / raw},
        {"case": "tool node, workspace (sqlite)", "us_per_step": disk * 1e6, "ratio": disk / raw},
    ]
    report("w3_tools", rows)


if __name__ == "__main__":
    main()
