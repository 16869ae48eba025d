"""Running task graphs: concurrency limits, retries, timeouts, failure propagation, cancellation."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import graphify, run, run_async, tool
from aethergraph.core.engine.retry import RetryPolicy
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import NodeTimeoutError, RunCancelledError
from aethergraph.runtime import (
    NodeStatus,
    RunStatus,
    cancel_run,
    cancel_run_async,
    get_run,
    get_run_async,
)
from aethergraph.testing import ManualClock, memory_runtime
from tests.core.engine.conftest import block_forever

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.storage.records import NodeRecord


@pytest.fixture(autouse=True)
def _in_memory() -> Iterator[None]:
    with memory_runtime():
        yield


async def node_records(run_id: str) -> dict[str, NodeRecord]:
    return {rec.node_id: rec for rec in await current_runtime().storage().list_nodes(run_id)}


# -- concurrency -----------------------------------------------------------------------------


class InFlight:
    """Counts the nodes running at once and remembers the highest count."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.done = 0

    async def visit(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.now -= 1
            self.done += 1


def twelve_wide(name: str, flight: InFlight) -> Any:
    @tool(outputs=["i"], name="probe")
    async def probe(i: int) -> dict[str, Any]:
        await flight.visit()
        return {"i": i}

    @tool(outputs=["count"], name="gather")
    async def gather(items: list[int]) -> dict[str, Any]:
        await flight.visit()
        return {"count": len(items)}

    @graphify(name=name, outputs=["count"])
    def wide():
        return {"count": gather([probe(i).i for i in range(11)]).count}

    return wide


@pytest.mark.parametrize("limit", [1, 3])
async def test_max_concurrency_bounds_the_nodes_in_flight(limit: int) -> None:
    flight = InFlight()
    graph = twelve_wide(f"sched_limit_{limit}", flight)

    assert await run_async(graph, max_concurrency=limit) == {"count": 11}

    assert flight.done == 12
    assert flight.peak == limit


async def test_without_a_limit_independent_nodes_all_run_at_once() -> None:
    flight = InFlight()
    graph = twelve_wide("sched_unlimited", flight)

    await run_async(graph)

    assert flight.peak == 11


# -- retries ---------------------------------------------------------------------------------


def flaky_graph(name: str, calls: list[int], failures: int, **tool_opts: Any) -> Any:
    @tool(outputs=["value"], name="flaky", **tool_opts)
    async def flaky(x: int) -> dict[str, Any]:
        calls.append(x)
        if len(calls) <= failures:
            raise ConnectionError(f"attempt {len(calls)} failed")
        return {"value": x * 10}

    @graphify(name=name, inputs=["x"], outputs=["value"])
    def graph(x):
        return {"value": flaky(x, _id="flaky").value}

    return graph


async def test_tool_retry_runs_a_failing_node_until_it_succeeds() -> None:
    calls: list[int] = []
    graph = flaky_graph("sched_retry_tool", calls, failures=2, retry=3)

    assert await run_async(graph, {"x": 4}, run_id="run-retry-tool") == {"value": 40}

    assert len(calls) == 3
    record = (await node_records("run-retry-tool"))["flaky"]
    assert record.status is NodeStatus.SUCCEEDED
    assert record.attempts == 3


async def test_run_retry_gives_up_after_its_attempts() -> None:
    calls: list[int] = []
    graph = flaky_graph("sched_retry_run", calls, failures=2)

    with pytest.raises(ConnectionError, match="attempt 2 failed"):
        await run_async(graph, {"x": 1}, retry=2, run_id="run-retry-exhausted")

    assert len(calls) == 2
    record = (await node_records("run-retry-exhausted"))["flaky"]
    assert record.status is NodeStatus.FAILED
    assert record.attempts == 2
    assert (await get_run_async("run-retry-exhausted")).status is RunStatus.FAILED


async def test_retry_policy_retries_only_the_listed_exceptions() -> None:
    calls: list[int] = []
    graph = flaky_graph("sched_retry_on", calls, failures=1)

    policy = RetryPolicy(attempts=5, retry_on=(KeyError,))
    with pytest.raises(ConnectionError):
        await run_async(graph, {"x": 1}, retry=policy)
    assert len(calls) == 1

    calls.clear()
    policy = RetryPolicy(attempts=5, retry_on=(OSError,))  # ConnectionError is an OSError
    assert await run_async(graph, {"x": 2}, retry=policy) == {"value": 20}
    assert len(calls) == 2


async def test_tool_retry_takes_precedence_over_the_run_retry() -> None:
    calls: list[int] = []
    graph = flaky_graph("sched_retry_precedence", calls, failures=2, retry=3)

    assert await run_async(graph, {"x": 1}, retry=1) == {"value": 10}
    assert len(calls) == 3


# -- timeouts --------------------------------------------------------------------------------


async def test_tool_timeout_fails_the_node_with_node_timeout_error(clock: ManualClock) -> None:
    entered = asyncio.Event()

    @tool(outputs=["done"], name="slow", timeout_s=0.05)
    async def slow() -> dict[str, Any]:
        await block_forever(entered)
        return {"done": True}

    @graphify(name="sched_node_timeout")
    def graph():
        return slow(_id="slow")

    running = asyncio.ensure_future(run_async(graph, run_id="run-node-timeout"))
    await entered.wait()
    clock.advance(0.049)
    await asyncio.sleep(0)
    assert not running.done()
    clock.advance(0.001)
    with pytest.raises(NodeTimeoutError, match=r"node 'slow' .*timeout_s=0.05"):
        await running

    record = (await node_records("run-node-timeout"))["slow"]
    assert record.status is NodeStatus.FAILED
    assert (record.error or "").startswith("NodeTimeoutError: node 'slow'")
    run = await get_run_async("run-node-timeout")
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith("NodeTimeoutError")


async def test_a_timed_out_node_is_retried_like_any_failure(clock: ManualClock) -> None:
    calls: list[int] = []
    entered = asyncio.Event()

    @tool(outputs=["done"], name="first_slow", timeout_s=0.05, retry=RetryPolicy(2, backoff_s=0))
    async def first_slow() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            await block_forever(entered)
        return {"done": True}

    @graphify(name="sched_timeout_retry")
    def graph():
        return first_slow()

    running = asyncio.ensure_future(run_async(graph))
    await entered.wait()
    clock.advance(0.05)
    assert await running == {"done": True}
    assert len(calls) == 2


async def test_run_timeout_stops_the_whole_run(clock: ManualClock) -> None:
    entered = asyncio.Event()

    @tool(outputs=["done"], name="sleeper")
    async def sleeper() -> dict[str, Any]:
        await block_forever(entered)
        return {"done": True}

    @graphify(name="sched_run_timeout")
    def graph():
        return sleeper(_id="sleeper")

    running = asyncio.ensure_future(run_async(graph, timeout_s=0.1, run_id="run-run-timeout"))
    await entered.wait()
    clock.advance(0.1)
    with pytest.raises(NodeTimeoutError, match=r"ran past its timeout_s=0.1"):
        await running

    assert (await get_run_async("run-run-timeout")).status is RunStatus.FAILED
    assert (await node_records("run-run-timeout"))["sleeper"].status is NodeStatus.CANCELLED


# -- failure ---------------------------------------------------------------------------------


async def test_failure_skips_dependents_and_lets_independent_branches_finish() -> None:
    finished: list[str] = []

    @tool(outputs=["v"], name="step")
    async def step(v: int, delay: float = 0.0) -> dict[str, Any]:
        await asyncio.sleep(delay)
        finished.append(f"step {v}")
        return {"v": v}

    @tool(outputs=["v"], name="explode")
    async def explode(v: int) -> dict[str, Any]:
        raise ValueError(f"cannot handle {v}")

    @graphify(name="sched_failure", outputs=["left", "right"])
    def graph():
        source = step(1, _id="source")
        bad = explode(source.v, _id="bad")
        after_bad = step(bad.v, _id="after_bad")
        last = step(after_bad.v, _id="last")
        slow = step(2, delay=0.05, _id="slow")
        tail = step(slow.v, _id="tail")
        return {"left": last.v, "right": tail.v}

    with pytest.raises(ValueError, match="cannot handle 1") as info:
        await run_async(graph, run_id="run-failure")

    assert type(info.value) is ValueError
    notes = getattr(info.value, "__notes__", [])
    assert any("run-failure" in n and "node 'bad'" in n for n in notes), notes
    records = await node_records("run-failure")
    assert records["bad"].status is NodeStatus.FAILED
    assert records["after_bad"].status is NodeStatus.SKIPPED
    assert records["last"].status is NodeStatus.SKIPPED
    assert "'bad' failed" in (records["after_bad"].error or "")
    assert records["slow"].status is NodeStatus.SUCCEEDED
    assert records["tail"].status is NodeStatus.SUCCEEDED
    assert finished.count("step 2") == 2  # slow and tail both ran after the failure
    run = await get_run_async("run-failure")
    assert run.status is RunStatus.FAILED
    assert run.error == "ValueError: cannot handle 1"


# -- cancellation ----------------------------------------------------------------------------


async def test_cancel_run_stops_running_nodes_and_marks_the_run_cancelled() -> None:
    started = asyncio.Event()
    completed: list[str] = []

    @tool(outputs=["done"], name="long_job")
    async def long_job() -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        completed.append("long_job")
        return {"done": True}

    @tool(outputs=["done"], name="after_long")
    async def after_long(done: bool) -> dict[str, Any]:
        completed.append("after_long")
        return {"done": done}

    @graphify(name="sched_cancel")
    def graph():
        return after_long(long_job(_id="long").done, _id="after")

    async def cancel_when_started() -> None:
        await started.wait()
        await cancel_run_async("run-cancel")

    canceller = asyncio.create_task(cancel_when_started())
    with pytest.raises(RunCancelledError, match="run-cancel"):
        await run_async(graph, run_id="run-cancel")
    await canceller

    assert completed == []
    assert (await get_run_async("run-cancel")).status is RunStatus.CANCELLED
    records = await node_records("run-cancel")
    assert records["long"].status is NodeStatus.CANCELLED
    assert "after" not in records or records["after"].status is not NodeStatus.SUCCEEDED
    # The caller's task was not left cancelled: it can keep awaiting.
    await asyncio.sleep(0)


def test_sync_cancel_run_from_another_thread_stops_a_sync_run() -> None:
    started = threading.Event()

    @tool(outputs=["done"], name="long_sync_job")
    async def long_job() -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()
        return {"done": True}

    @graphify(name="sched_cancel_sync")
    def graph():
        return long_job(_id="long")

    statuses: list[RunStatus] = []

    def cancel_when_started() -> None:
        if started.wait(10):
            statuses.append(cancel_run("run-cancel-sync"))

    canceller = threading.Thread(target=cancel_when_started)
    canceller.start()
    try:
        with pytest.raises(RunCancelledError):
            run(graph, run_id="run-cancel-sync")
    finally:
        canceller.join(10)

    assert statuses == [RunStatus.CANCELLED]
    assert get_run("run-cancel-sync").status is RunStatus.CANCELLED
