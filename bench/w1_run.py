"""W1: a trivial graph_fn run (run_async in a loop), in memory and in the durable workspace.

Ratio: against awaiting the same plain async function directly.
"""

from __future__ import annotations

from harness import in_memory_and_workspace, report, timed_async

from aethergraph import graph_fn, run_async

N = 5_000


async def plain(x: int) -> dict[str, int]:
    return {"y": x + 1}


@graph_fn(name="w1_trivial")
async def trivial(x: int) -> dict[str, int]:
    return {"y": x + 1}


async def loop_plain() -> None:
    for i in range(N):
        await plain(i)


async def loop_runs() -> None:
    for i in range(N):
        await run_async(trivial, {"x": i})


def main() -> None:
    raw = timed_async(loop_plain, ops=N)
    mem, disk = in_memory_and_workspace(loop_runs, ops=N)
    rows = [
        {"case": "raw asyncio await", "us_per_op": raw * 1e6, "ratio": 1.0},
        {"case": "run_async, memory", "us_per_op": mem * 1e6, "ratio": mem / raw},
        {"case": "run_async, workspace (sqlite)", "us_per_op": disk * 1e6, "ratio": disk / raw},
    ]
    report("w1_run", rows)


if __name__ == "__main__":
    main()
