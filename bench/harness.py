"""Shared timing and reporting for the benchmarks: best-of-repeats timing, JSON results."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

RESULTS = Path(__file__).parent / "results"


def timed_async(make: Callable[[], Awaitable[None]], *, ops: int, repeats: int = 5) -> float:
    """Median seconds per operation of ``await make()`` (which performs ``ops`` operations)."""

    async def once() -> float:
        start = time.perf_counter()
        await make()
        return (time.perf_counter() - start) / ops

    async def all_runs() -> list[float]:
        await make()  # warm-up
        return [await once() for _ in range(repeats)]

    return statistics.median(asyncio.run(all_runs()))


def in_memory_and_workspace(
    make: Callable[[], Awaitable[None]], *, ops: int
) -> tuple[float, float]:
    """Seconds per operation with in-memory storage, then with a fresh SQLite workspace."""
    from aethergraph.core.engine.runtime import current_runtime
    from aethergraph.testing import memory_runtime

    with memory_runtime():
        memory = timed_async(make, ops=ops)
    with tempfile.TemporaryDirectory() as folder, current_runtime().scoped(workspace=folder):
        workspace = timed_async(make, ops=ops)
    return memory, workspace


def report(name: str, rows: list[dict[str, Any]]) -> None:
    """Print rows as a table and write them to bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    print(f"\n== {name}")
    for row in rows:
        print("  " + "  ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
    meta = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "ts": time.time()}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)
