"""W4: a graphify fan-out of N independent tool nodes into one join, durable workspace.

Prints total time and µs per node for N = 10 .. 10,000, and a 1-node graph run. Ratio: against
a TaskGroup running the same N plain coroutines.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from harness import report

from aethergraph import graphify, run_async, tool
from aethergraph.core.engine.runtime import current_runtime

SIZES = [10, 100, 1_000, 10_000]


@tool(outputs=["v"])
async def leaf(i: int) -> dict[str, int]:
    return {"v": i}


@tool(outputs=["total"])
async def join(values: list[int]) -> dict[str, int]:
    return {"total": sum(values)}


def fan(n: int):  # type: ignore[no-untyped-def]
    @graphify(name=f"w4_fan_{n}")
    def graph():  # type: ignore[no-untyped-def]
        return {"total": join(values=[leaf(i=i).v for i in range(n)]).total}

    return graph


@graphify(name="w4_one")
def one():  # type: ignore[no-untyped-def]
    return {"v": leaf(i=1).v}


async def raw(n: int) -> float:
    async def work(i: int) -> dict[str, int]:
        return {"v": i}

    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(work(i))
    return time.perf_counter() - start


async def measure(graph, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = await run_async(graph)
    elapsed = time.perf_counter() - start
    assert out["total"] == n * (n - 1) // 2
    return elapsed


def main() -> None:
    sizes = SIZES if "--quick" not in sys.argv else SIZES[:3]
    rows = []
    with tempfile.TemporaryDirectory() as ws, current_runtime().scoped(workspace=ws):

        async def all_sizes() -> None:
            await run_async(one)  # warm-up: opens the workspace
            starts = []
            for _ in range(20):
                t0 = time.perf_counter()
                await run_async(one)
                starts.append(time.perf_counter() - t0)
            starts.sort()
            rows.append({"case": "1-node graph", "ms_total": starts[10] * 1e3, "us_per_node": 0.0})
            for n in sizes:
                graph = fan(n)
                base = await raw(n)
                total = min([await measure(graph, n) for _ in range(3 if n < 10_000 else 1)])
                rows.append(
                    {
                        "case": f"fan-out N={n}",
                        "ms_total": total * 1e3,
                        "us_per_node": total / (n + 1) * 1e6,
                        "ratio_vs_taskgroup": total / base,
                    }
                )

        asyncio.run(all_sizes())
    report("w4_fanout", rows)


if __name__ == "__main__":
    main()
