"""W3: a graph_fn calling 100 trivial ``@tool``s in sequence, with node records kept.

Reported per step. Ratio: against awaiting the same plain async function 100 times.
"""

from __future__ import annotations

import asyncio

from harness import in_memory_and_workspace, report, timed_async

from aethergraph import graph_fn, run_async, tool
from aethergraph.runtime import list_nodes_async, list_runs_async
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


def check_node_records_kept() -> None:
    """The figures count real nodes: every step of a run leaves its node record."""

    async def one() -> int:
        await run_async(chain)
        (record,) = await list_runs_async(graph_id="w3_chain")
        return len(await list_nodes_async(record.run_id))

    with memory_runtime():
        assert asyncio.run(one()) == STEPS


def main() -> None:
    ops = RUNS * STEPS
    check_node_records_kept()
    raw = timed_async(plain_loop, ops=ops)
    mem, disk = in_memory_and_workspace(runs, ops=ops)
    rows = [
        {"case": "plain await (raw)", "us_per_step": raw * 1e6, "ratio": 1.0},
        {"case": "tool node, memory", "us_per_step": mem * 1e6, "ratio": mem / raw},
        {"case": "tool node, workspace (sqlite)", "us_per_step": disk * 1e6, "ratio": disk / raw},
    ]
    report("w3_tools", rows)


if __name__ == "__main__":
    main()
