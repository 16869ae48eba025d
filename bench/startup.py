"""``import aethergraph`` wall time, and peak RSS after 1,000 runs (each in a fresh process).

Ratio: import time against ``import asyncio`` alone; RSS against a bare interpreter that imported
asyncio and sqlite3.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from harness import report

IMPORT = "import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"
RSS = """
import resource, asyncio
{setup}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
RUNS = """
import tempfile, os
os.environ["AETHERGRAPH_WORKSPACE"] = tempfile.mkdtemp()
from aethergraph import graph_fn, tool, run_async
@tool(outputs=["y"])
async def inc(x): return x + 1
@graph_fn(name="rss")
async def g(x):
    return {"y": (await inc(x=x))["y"]}
async def main():
    for i in range(1000):
        await run_async(g, {"x": i})
asyncio.run(main())
"""


def _py(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> None:
    imp = statistics.median(float(_py(IMPORT.format(mod="aethergraph"))) for _ in range(7))
    base = statistics.median(float(_py(IMPORT.format(mod="asyncio"))) for _ in range(7))
    heavy = _py(
        "import aethergraph, sys; print(sorted(m for m in "
        "('fastapi', 'uvicorn', 'httpx', 'starlette', 'pydantic') if m in sys.modules))"
    )
    rss = float(_py(RSS.format(setup=RUNS)))
    bare = float(_py(RSS.format(setup="import sqlite3")))
    rows = [
        {"case": "import aethergraph", "ms": imp * 1e3, "ratio_vs_import_asyncio": imp / base},
        {"case": "web modules loaded by import", "value": heavy},
        {"case": "peak RSS after 1,000 runs (MiB)", "value": rss, "bare_interpreter_MiB": bare},
    ]
    report("startup", rows)


if __name__ == "__main__":
    main()
