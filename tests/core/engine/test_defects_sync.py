"""Issue 9, defects 12 and 13: the synchronous API works inside a running event loop (a notebook
cell) and from any number of threads at once, with or without a server."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aethergraph import Service, graph_fn, run
from aethergraph.errors import ConfigurationError, RunError, RunNotFoundError
from aethergraph.runtime import (
    RunStatus,
    cancel_run,
    get_run,
    list_artifacts,
    list_logs,
    list_nodes,
    list_run_events,
    list_runs,
    list_waits,
    read_artifact,
    reply,
    search_memory,
)

pytestmark = pytest.mark.usefixtures("backend")  # SQLite workspace and memory alike


class Counter(Service):
    """A service with a lifecycle, to see that shared sync calls keep it started."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.closes = 0
        self.open = False

    async def start(self) -> None:
        self.starts += 1
        self.open = True

    async def close(self) -> None:
        self.closes += 1
        self.open = False

    async def use(self) -> bool:
        await asyncio.sleep(0)
        return self.open


@graph_fn(name="noted")
async def noted(x: int, *, context: Any) -> dict[str, Any]:
    context.logger().info("noting %s", x)
    artifact = await context.artifacts().save_text(f"x={x}")
    await context.memory().record("note", {"x": x})
    return {"y": x + 1, "artifact": artifact.id}


@graph_fn(name="uses_counter")
async def uses_counter(i: int, *, context: Any) -> dict[str, Any]:
    return {"i": i, "open": await context.counter().use()}


async def test_every_sync_call_works_inside_a_running_event_loop() -> None:
    asyncio.get_running_loop()  # as in a notebook cell: this thread runs a loop
    outputs = run(noted, {"x": 1})
    assert outputs["y"] == 2
    (record,) = list_runs()
    assert get_run(record.run_id).status is RunStatus.SUCCEEDED
    assert [n.node_id for n in list_nodes(record.run_id)] == []
    assert any("noting 1" in entry.message for entry in list_logs(record.run_id))
    assert list_run_events(record.run_id)[-1].data["status"] == "succeeded"
    assert list_waits(run_id=record.run_id) == []
    assert [e.data for e in search_memory(run_id=record.run_id)] == [{"x": 1}]
    assert [a.id for a in list_artifacts(run_id=record.run_id)] == [outputs["artifact"]]
    assert read_artifact(outputs["artifact"]) == b"x=1"
    cancel_run(record.run_id)  # a finished run stays as it ended
    with pytest.raises(RunError, match=r"no open wait|not waiting|cannot"):
        reply(record.run_id, text="late")
    with pytest.raises(RunNotFoundError):
        get_run("no-such-run")


async def test_a_sync_call_inside_a_node_says_to_await_the_async_twin() -> None:
    @graph_fn(name="nested_sync")
    async def nested_sync() -> dict[str, Any]:
        return run(noted, {"x": 1})

    with pytest.raises(ConfigurationError, match=r"await run_async\(\.\.\.\)"):
        await nested_sync()


def test_200_sync_runs_on_16_threads_without_a_server_all_succeed(
    register: Any,
) -> None:
    counter = Counter()
    register("counter", counter)
    barrier = threading.Barrier(16)

    def worker(t: int) -> list[dict[str, Any]]:
        barrier.wait(timeout=10)
        return [run(uses_counter, {"i": t * 100 + k}) for k in range(200 // 16 + 1)]

    with ThreadPoolExecutor(16) as pool:  # each thread in this test's workspace
        chunks = [pool.submit(contextvars.copy_context().run, worker, t) for t in range(16)]
        results = [o for chunk in chunks for o in chunk.result(timeout=50)]
    assert len(results) == 16 * 13
    assert all(o["open"] for o in results)
    assert sorted(o["i"] for o in results) == sorted(
        t * 100 + k for t in range(16) for k in range(13)
    )
    assert counter.starts == counter.closes  # every start closed once the calls ended
    assert not counter.open
    assert len(list_runs(status=RunStatus.SUCCEEDED, limit=1000)) == 16 * 13
