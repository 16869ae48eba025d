"""SPEC §6 under load: 1,000 runs started over HTTP at once all complete and are recorded."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable


async def _start_many(base_url: str, count: int, in_flight: int) -> list[str]:
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def one(i: int) -> str:
            async with gate:
                response = await client.post("/graphs/trivial/runs", json={"inputs": {"x": i}})
            assert response.status_code == 202, response.text
            run_id: str = response.json()["run_id"]
            return run_id

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(i)) for i in range(count)]
    return [t.result() for t in tasks]


def test_a_thousand_runs_started_at_once_all_complete_while_a_slow_run_keeps_running(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    slow = api.post("/graphs/slow/runs", json={"inputs": {"seconds": 30}}).json()["run_id"]
    until(slow, "running")
    ids = asyncio.run(_start_many(str(api.base_url), 1000, 50))
    assert len(set(ids)) == 1000

    deadline = time.monotonic() + 30
    while True:
        done = api.get(
            "/runs", params={"graph_id": "trivial", "status": "succeeded", "limit": 1000}
        ).json()["items"]
        if len(done) == 1000 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert {r["run_id"] for r in done} == set(ids)
    assert sorted(r["outputs"]["x"] for r in done) == list(range(1000))

    started = time.monotonic()
    assert api.get("/health").status_code == 200
    assert time.monotonic() - started < 1.0
    assert api.get(f"/runs/{slow}").json()["status"] == "running"
    api.post(f"/runs/{slow}/cancel")
