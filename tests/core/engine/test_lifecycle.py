"""The one run lifecycle: both kinds of run behave alike; events, claims, children, overrides."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graph_fn, graphify, run_async, tool
from aethergraph.core.engine.runtime import current_runtime, process_start_ticks
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.errors import (
    ConfigurationError,
    InputValidationError,
    NodeTimeoutError,
    RunCancelledError,
)
from aethergraph.runtime import (
    RunStatus,
    cancel_run_async,
    get_run_async,
    list_nodes_async,
    list_run_events_async,
    override_context_service,
    watch_run,
)
from aethergraph.storage.records import RunRecord
from aethergraph.testing import scripted_channel, start_run
from tests.core.engine.conftest import block_forever

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from aethergraph.testing import ManualClock

Entered = asyncio.Event


def blocking_graph_fn(entered: Entered) -> Any:
    @graph_fn(name="blocks_fn")
    async def blocks() -> None:
        await block_forever(entered)

    return blocks


def blocking_task_graph(entered: Entered) -> Any:
    @tool(outputs=["done"], name="blocks_step")
    async def step() -> dict[str, Any]:
        await block_forever(entered)
        return {"done": True}

    @graphify(name="blocks_graph")
    def graph():  # type: ignore[no-untyped-def]
        return step(_id="step")

    return graph


KINDS = pytest.mark.parametrize("make", [blocking_graph_fn, blocking_task_graph])


@KINDS
async def test_both_kinds_of_run_end_cancelled_with_run_cancelled_error(
    make: Callable[[Entered], Any],
) -> None:
    entered = Entered()
    handle = await start_run(make(entered), run_id="run-cancel-kind")
    await entered.wait()
    assert await cancel_run_async("run-cancel-kind") is RunStatus.CANCELLED
    with pytest.raises(RunCancelledError, match="run-cancel-kind"):
        await handle.result()
    assert (await get_run_async("run-cancel-kind")).status is RunStatus.CANCELLED
    with pytest.raises(RunCancelledError, match="was cancelled; start a new run"):
        await run_async(make(entered), run_id="run-cancel-kind")


@KINDS
async def test_both_kinds_of_run_fail_with_node_timeout_error_past_their_timeout(
    make: Callable[[Entered], Any], clock: ManualClock
) -> None:
    entered = Entered()
    running = asyncio.ensure_future(run_async(make(entered), run_id="run-late", timeout_s=2))
    await entered.wait()
    clock.advance(2)
    with pytest.raises(NodeTimeoutError, match="ran past its timeout_s=2"):
        await running
    assert (await get_run_async("run-late")).status is RunStatus.FAILED


@pytest.fixture
def other_process() -> Iterator[str]:
    """The owner id of another live process on this machine."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield f"{socket.gethostname()}:{proc.pid}:{process_start_ticks(proc.pid)}"
    finally:
        proc.kill()
        proc.wait()


async def store_run(graph_id: str, kind: str, owner: str, *, started: float | None = None) -> None:
    now = time.time() if started is None else started
    record = RunRecord(
        "run-owned", graph_id, RunStatus.RUNNING, kind, {}, created_at=now, started_at=now
    )
    record.owner = owner
    storage = current_runtime().storage()
    await storage.put_run(record)
    await storage.flush()


@KINDS
async def test_both_kinds_refuse_to_resume_a_run_alive_in_another_process(
    make: Callable[[Entered], Any], other_process: str
) -> None:
    target = make(Entered())
    kind = "graph_fn" if target.__class__.__name__ == "GraphFunction" else "graphify"
    await store_run(target.name, kind, other_process)
    with pytest.raises(ConfigurationError, match="running in another live process"):
        await run_async(target, run_id="run-owned")
    assert (await get_run_async("run-owned")).status is RunStatus.RUNNING


async def test_an_owner_on_another_host_blocks_a_resume_only_while_it_keeps_beating() -> None:
    @graph_fn(name="leased")
    async def leased() -> dict[str, Any]:
        return {"ok": True}

    owner = "another-host:4242:999"
    storage = current_runtime().storage()
    await store_run("leased", "graph_fn", owner, started=time.time() - 3600)
    await storage.beat(owner, time.time())
    with pytest.raises(ConfigurationError, match="another live process"):
        await run_async(leased, run_id="run-owned")
    await storage.beat(owner, time.time() - 3600)  # it stopped beating an hour ago
    assert await run_async(leased, run_id="run-owned") == {"ok": True}
    statuses = [
        e.data["status"] for e in await list_run_events_async("run-owned") if e.type == "run_status"
    ]
    assert statuses == ["interrupted", "running", "succeeded"]


async def test_a_graph_fn_run_id_reused_with_other_inputs_is_refused() -> None:
    @graph_fn(name="echo_once")
    async def echo(x: int) -> dict[str, Any]:
        return {"x": x}

    assert await run_async(echo, {"x": 1}, run_id="run-echo") == {"x": 1}
    assert await run_async(echo, {"x": 1}, run_id="run-echo") == {"x": 1}
    assert await run_async(echo, run_id="run-echo") == {"x": 1}
    with pytest.raises(InputValidationError, match="other inputs would mix two computations"):
        await run_async(echo, {"x": 2}, run_id="run-echo")


async def test_cancelling_a_parent_cancels_its_child_runs() -> None:
    inside: list[str] = []
    both_inside = Entered()

    @graph_fn(name="child_blocks")
    async def child(*, context: NodeContext) -> None:
        inside.append(context.run_id)
        if len(inside) == 2:
            both_inside.set()
        await asyncio.Event().wait()

    @graph_fn(name="parent_of_two")
    async def parent(*, context: NodeContext) -> None:
        await context.runner().spawn_run(child, run_id="run-spawned")
        await context.runner().run_and_wait(child, run_id="run-awaited")

    handle = await start_run(parent, run_id="run-parent")
    await both_inside.wait()
    await cancel_run_async("run-parent")
    with pytest.raises(RunCancelledError):
        await handle.result()
    for run_id in ("run-parent", "run-spawned", "run-awaited"):
        record = await get_run_async(run_id)
        assert record.status is RunStatus.CANCELLED, run_id
    assert (await get_run_async("run-spawned")).parent_run_id == "run-parent"


async def test_a_built_in_service_can_be_overridden_in_a_test() -> None:
    recorded: list[tuple[str, Any]] = []

    class FakeMemory:
        async def record(self, kind: str, data: Any) -> None:
            recorded.append((kind, data))

    @graph_fn(name="remembers")
    async def remembers(*, context: NodeContext) -> dict[str, Any]:
        await context.memory().record("note", {"n": 1})
        return {"ok": True}

    with override_context_service("memory", FakeMemory()):
        assert await run_async(remembers) == {"ok": True}
    assert recorded == [("note", {"n": 1})]


async def test_watch_run_in_process_follows_a_graph_fn_until_its_final_event() -> None:
    release = Entered()

    @tool(outputs=["y"], name="double_it")
    async def double(x: int) -> dict[str, Any]:
        return {"y": 2 * x}

    @graph_fn(name="watched_fn")
    async def watched(*, context: NodeContext) -> dict[str, Any]:
        first = await double(x=1)
        context.logger().info("halfway")
        await release.wait()
        return await double(x=first["y"])

    handle = await start_run(watched, run_id="run-watched-here")
    seen = []
    async for event in watch_run("run-watched-here"):
        seen.append(event)
        if event.type == "log":
            release.set()
    assert await handle.result() == {"y": 4}
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert [(e.type, e.data.get("status")) for e in seen] == [
        ("run_status", "running"),
        ("node", "running"),
        ("node", "succeeded"),
        ("log", None),
        ("node", "running"),
        ("node", "succeeded"),
        ("run_status", "succeeded"),
    ]
    assert seen == await list_run_events_async("run-watched-here")


async def test_a_run_ends_after_the_child_runs_it_spawned() -> None:
    release = Entered()

    @graph_fn(name="slow_child")
    async def child() -> dict[str, Any]:
        await release.wait()
        return {"done": True}

    @graph_fn(name="spawns_and_returns")
    async def parent(*, context: NodeContext) -> dict[str, Any]:
        child_id = await context.runner().spawn_run(child, run_id="run-late-child")
        release.set()
        return {"child": child_id}

    assert await run_async(parent) == {"child": "run-late-child"}
    assert (await get_run_async("run-late-child")).status is RunStatus.SUCCEEDED


async def test_a_failing_run_stops_the_child_runs_it_spawned() -> None:
    @graph_fn(name="endless_child")
    async def child() -> None:
        await asyncio.Event().wait()

    @graph_fn(name="spawns_and_fails")
    async def parent(*, context: NodeContext) -> None:
        await context.runner().spawn_run(child, run_id="run-orphan")
        raise ValueError("parent gives up")

    with pytest.raises(ValueError, match="parent gives up"):
        await run_async(parent)
    assert (await get_run_async("run-orphan")).status is RunStatus.CANCELLED


async def test_a_task_graph_runs_from_its_json_spec_with_tools_found_by_name_and_version() -> None:
    @tool(outputs=["y"], name="spec_double", version="2.0.0")
    def double(x: int) -> dict[str, Any]:
        return {"y": 2 * x}

    @graphify(name="from_spec", inputs=["x"])
    def traced(x):  # type: ignore[no-untyped-def]
        return {"y": double(double(x).y).y}

    rebuilt = TaskGraph.from_json(json.loads(json.dumps(traced.to_json())))
    assert rebuilt is not traced
    assert await run_async(rebuilt, {"x": 3}) == {"y": 12}


async def test_a_spec_naming_a_tool_version_nobody_defined_is_a_clear_error() -> None:
    @tool(outputs=["y"], name="spec_versioned", version="1.0.0")
    def versioned(x: int) -> dict[str, Any]:
        return {"y": x}

    @graphify(name="wants_v9", inputs=["x"])
    def traced(x):  # type: ignore[no-untyped-def]
        return {"y": versioned(x).y}

    spec = traced.to_json()
    for node in spec["nodes"]:
        node["tool_version"] = "9.0.0"
    with pytest.raises(ConfigurationError, match=r"needs tool 'spec_versioned' version 9\.0\.0"):
        await run_async(TaskGraph.from_json(spec), {"x": 1})


async def test_a_node_with_an_open_question_is_waiting_until_answered() -> None:
    @tool(outputs=["name"], name="asks_name")
    async def asks(*, context: NodeContext) -> dict[str, Any]:
        return {"name": await context.channel("desk-waiting").ask_text("Name?")}

    @graphify(name="asks_graph")
    def graph():  # type: ignore[no-untyped-def]
        return asks(_id="ask")

    with scripted_channel(key="desk-waiting"):
        handle = await start_run(graph, run_id="run-asks")
        await handle.next_wait()
        nodes = await list_nodes_async("run-asks")
        assert [(n.node_id, n.status) for n in nodes] == [("ask", "waiting")]
        assert (await get_run_async("run-asks")).status is RunStatus.WAITING
        await handle.reply(text="Ada")
        assert await handle.result() == {"name": "Ada"}
    node_states = [
        e.data["status"] for e in await list_run_events_async("run-asks") if e.type == "node"
    ]
    assert node_states == ["running", "waiting", "running", "succeeded"]


async def test_watch_run_of_a_resumed_run_goes_on_past_its_first_final_event() -> None:
    fail = {"on": True}

    @graph_fn(name="fails_then_resumes")
    async def flaky() -> dict[str, Any]:
        if fail["on"]:
            raise RuntimeError("first attempt")
        return {"ok": True}

    with pytest.raises(RuntimeError):
        await run_async(flaky, run_id="run-twice-final")
    fail["on"] = False
    assert await run_async(flaky, run_id="run-twice-final") == {"ok": True}
    statuses = [
        e.data["status"] async for e in watch_run("run-twice-final") if e.type == "run_status"
    ]
    assert statuses == ["running", "failed", "running", "succeeded"]


async def test_watch_run_ends_when_the_final_event_closes_a_full_page() -> None:
    @tool(outputs=["n"], name="tick_page")
    async def tick(n: int) -> dict[str, Any]:
        return {"n": n}

    @graph_fn(name="fills_pages")
    async def fills(*, context: NodeContext) -> dict[str, Any]:
        for n in range(499):  # 2 events a step, plus running and succeeded: exactly 1,000
            await tick(n=n)
        return {"done": True}

    await run_async(fills, run_id="run-full-page")
    assert len(await list_run_events_async("run-full-page", limit=2000)) == 1000
    seen = [e.seq async for e in watch_run("run-full-page")]
    assert seen == list(range(1, 1001))
