"""W7: resuming a graph_fn by replay: a run of 1,000 tool steps fails at its end, then resumes.

The resume replays every recorded step (none executes again) and then finishes. Reported: the
whole resume in ms and per replayed step, against the first run's cost per live step, in a
SQLite workspace. Target: a 1,000-step journal replays in <= 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time

from harness import report

from aethergraph import graph_fn, run_async, tool
from aethergraph.core.engine.runtime import current_runtime

STEPS = 1_000
calls = 0
fail = True


@tool(outputs=["y"])
async def journal_inc(x: int) -> dict[str, int]:
    global calls
    calls += 1
    return {"y": x + 1}


@graph_fn(name="w7_journal")
async def long_chain() -> dict[str, int]:
    x = 0
    for _ in range(STEPS):
        x = (await journal_inc(x=x))["y"]
    if fail:
        raise RuntimeError("fails at its very end, after every step")
    return {"x": x}


async def measure(run_id: str) -> tuple[float, float]:
    global fail
    fail = True
    t0 = time.perf_counter()
    with contextlib.suppress(RuntimeError):
        await run_async(long_chain, run_id=run_id)
    first = time.perf_counter() - t0
    fail = False
    before = calls
    t0 = time.perf_counter()
    assert await run_async(long_chain, run_id=run_id) == {"x": STEPS}
    resume = time.perf_counter() - t0
    assert calls == before, "a replayed step ran again"
    return first, resume


def main() -> None:
    with tempfile.TemporaryDirectory() as ws, current_runtime().scoped(workspace=ws):

        async def all_rounds() -> list[tuple[float, float]]:
            return [await measure(f"run-w7-{i}") for i in range(5)]

        rounds = asyncio.run(all_rounds())
    first = sorted(r[0] for r in rounds)[2]
    resume = sorted(r[1] for r in rounds)[2]
    report(
        "w7_journal",
        [
            {"case": "first run, per live step", "us_per_step": first / STEPS * 1e6},
            {
                "case": "resume by replay, whole run",
                "ms": resume * 1e3,
                "us_per_step": resume / STEPS * 1e6,
                "target_ms": 50,
            },
        ],
    )


if __name__ == "__main__":
    main()
