"""W8: scaling out. W1 and W4 (N=1,000) on PostgreSQL beside SQLite; run throughput through
RayExecutor with 1 and 2 workers beside the in-process executor and raw async Ray actor calls.

Needs PostgreSQL 15 (a throwaway server is started as the tests do) and Ray (``aethergraph[ray]``);
prints what is missing and skips otherwise. Ray runs on a local cluster of 2 CPUs, on loopback.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.postgres_server
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from harness import report  # noqa: E402
from w4_fanout import fan  # noqa: E402
from w8_graphs import trivial  # noqa: E402

from aethergraph import run_async  # noqa: E402
from aethergraph.core.engine.runtime import current_runtime  # noqa: E402

N = 1_000


async def w1(n: int) -> float:
    await run_async(trivial, {"x": 0})  # warm-up: opens the store
    start = time.perf_counter()
    for i in range(n):
        await run_async(trivial, {"x": i})
    return (time.perf_counter() - start) / n


async def w4(n: int) -> float:
    graph = fan(n)
    await run_async(graph)  # warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        await run_async(graph)
        best = min(best, time.perf_counter() - start)
    return best


async def burst(n: int) -> float:
    """Runs per second of ``n`` trivial runs submitted at once."""
    await run_async(trivial, {"x": 0})
    start = time.perf_counter()
    await asyncio.gather(*(run_async(trivial, {"x": i}) for i in range(n)))
    return n / (time.perf_counter() - start)


class Echo:
    async def echo(self, x: int) -> int:
        return x + 1


async def raw_actor_calls(ray: object, n: int) -> tuple[float, float]:
    """Seconds per call one at a time, and calls per second all at once, on 2 async actors."""
    actors = [ray.remote(Echo).options(max_concurrency=8, num_cpus=0).remote() for _ in range(2)]  # type: ignore[attr-defined]
    await asyncio.gather(*(a.echo.remote(0) for a in actors))
    start = time.perf_counter()
    for i in range(n):
        await actors[i % 2].echo.remote(i)
    one = (time.perf_counter() - start) / n
    start = time.perf_counter()
    await asyncio.gather(*(actors[i % 2].echo.remote(i) for i in range(n)))
    rate = n / (time.perf_counter() - start)
    for actor in actors:
        ray.kill(actor)  # type: ignore[attr-defined]
    return one, rate


def main() -> None:
    from tests.postgres_server import PG_BIN, postgres_server

    if not (PG_BIN / "initdb").exists() or importlib.util.find_spec("asyncpg") is None:
        print("W8 skipped: needs PostgreSQL 15 and asyncpg (pip install -e '.[postgres]')")
        return
    rows: list[dict[str, object]] = []
    with postgres_server() as dsn:
        with tempfile.TemporaryDirectory() as ws, current_runtime().scoped(workspace=ws):
            sqlite_w1, sqlite_w4, sqlite_burst = (
                asyncio.run(w1(N)),
                asyncio.run(w4(N)),
                asyncio.run(burst(N)),
            )
        with current_runtime().scoped() as rt:
            rt.configure(database_url=f"{dsn}?schema=w8_{uuid.uuid4().hex}")
            pg_w1, pg_w4, pg_burst = asyncio.run(w1(N)), asyncio.run(w4(N)), asyncio.run(burst(N))
        rows += [
            {"case": "W1 run_async, sqlite", "us_per_run": sqlite_w1 * 1e6},
            {
                "case": "W1 run_async, postgres",
                "us_per_run": pg_w1 * 1e6,
                "ratio_vs_sqlite": pg_w1 / sqlite_w1,
            },
            {"case": f"W4 fan-out N={N}, sqlite", "ms_total": sqlite_w4 * 1e3},
            {
                "case": f"W4 fan-out N={N}, postgres",
                "ms_total": pg_w4 * 1e3,
                "ratio_vs_sqlite": pg_w4 / sqlite_w4,
            },
            {"case": f"{N} runs at once, in-process, sqlite", "runs_per_s": sqlite_burst},
            {"case": f"{N} runs at once, in-process, postgres", "runs_per_s": pg_burst},
        ]
        if importlib.util.find_spec("ray") is None:
            print("W8 Ray figures skipped: pip install -e '.[ray]'")
        else:
            rows += ray_rows(dsn)
    report("w8_scale", rows)


def ray_rows(dsn: str) -> list[dict[str, object]]:
    import ray

    from aethergraph.core.engine.executors.ray import RayExecutor

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            _temp_dir=tmp,
            runtime_env={"env_vars": {"PYTHONPATH": f"{HERE.parent}:{HERE}"}},
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            raw_one, raw_rate = asyncio.run(raw_actor_calls(ray, N))
            rows.append(
                {"case": "raw async actor call, one at a time", "us_per_call": raw_one * 1e6}
            )
            rows.append({"case": f"raw async actor calls, {N} at once", "calls_per_s": raw_rate})
            for workers in (1, 2):
                with current_runtime().scoped() as rt:
                    executor = RayExecutor(num_workers=workers, max_runs_per_worker=64)
                    rt.configure(
                        database_url=f"{dsn}?schema=w8r_{uuid.uuid4().hex}", executor=executor
                    )
                    one = asyncio.run(w1(200))
                    rate = asyncio.run(burst(N))
                    asyncio.run(executor.close())
                rows.append(
                    {
                        "case": f"RayExecutor {workers} worker(s), one run at a time",
                        "us_per_run": one * 1e6,
                        "ratio_vs_raw_call": one / raw_one,
                    }
                )
                rows.append(
                    {
                        "case": f"RayExecutor {workers} worker(s), {N} runs at once",
                        "runs_per_s": rate,
                    }
                )
        finally:
            ray.shutdown()
    return rows


if __name__ == "__main__":
    main()
