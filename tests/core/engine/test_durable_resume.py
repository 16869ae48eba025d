"""Checkpoints: a task graph resumed with its run_id skips finished nodes, even after SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import graphify, run_async, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ConfigurationError, RunCancelledError
from aethergraph.runtime import NodeStatus, RunStatus, cancel_run_async, get_run, get_run_async
from aethergraph.testing import memory_runtime, scripted_channel, start_run

if TYPE_CHECKING:
    from collections.abc import Iterator

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def in_memory() -> Iterator[None]:
    with memory_runtime():
        yield


def pipeline(name: str, calls: Counter[str], broken: dict[str, bool]) -> Any:
    """``load -> transform -> publish`` and an independent ``audit``; transform fails if broken."""

    @tool(outputs=["rows"], name="load")
    async def load(n: int) -> dict[str, Any]:
        calls["load"] += 1
        return {"rows": list(range(n))}

    @tool(outputs=["rows"], name="transform")
    async def transform(rows: list[int]) -> dict[str, Any]:
        calls["transform"] += 1
        if broken["transform"]:
            raise RuntimeError("transform is broken")
        return {"rows": [r * r for r in rows]}

    @tool(outputs=["total"], name="publish")
    async def publish(rows: list[int]) -> dict[str, Any]:
        calls["publish"] += 1
        return {"total": sum(rows)}

    @tool(outputs=["ok"], name="audit")
    async def audit(n: int) -> dict[str, Any]:
        calls["audit"] += 1
        return {"ok": n > 0}

    @graphify(name=name, inputs=["n"], outputs=["total", "audited"])
    def graph(n):
        rows = load(n, _id="load")
        squared = transform(rows.rows, _id="transform")
        return {
            "total": publish(squared.rows, _id="publish").total,
            "audited": audit(n, _id="audit").ok,
        }

    return graph


@pytest.mark.usefixtures("in_memory")
async def test_resume_after_a_failure_reruns_only_what_did_not_finish() -> None:
    calls: Counter[str] = Counter()
    broken = {"transform": True}
    graph = pipeline("durable_resume", calls, broken)

    with pytest.raises(RuntimeError, match="transform is broken"):
        await run_async(graph, {"n": 4}, run_id="run-resume")
    assert (await get_run_async("run-resume")).status is RunStatus.FAILED
    assert calls == {"load": 1, "transform": 1, "audit": 1}
    nodes = {
        r.node_id: r.status for r in await current_runtime().storage().list_nodes("run-resume")
    }
    assert nodes["publish"] is NodeStatus.SKIPPED

    broken["transform"] = False
    outputs = await run_async(graph, {"n": 4}, run_id="run-resume")

    assert calls == {"load": 1, "transform": 2, "publish": 1, "audit": 1}
    assert (await get_run_async("run-resume")).status is RunStatus.SUCCEEDED
    nodes = {
        r.node_id: r.status for r in await current_runtime().storage().list_nodes("run-resume")
    }
    assert set(nodes.values()) == {NodeStatus.SUCCEEDED}
    fresh = await run_async(graph, {"n": 4}, run_id="run-fresh")
    assert outputs == fresh == {"total": 14, "audited": True}


@pytest.mark.usefixtures("in_memory")
async def test_a_finished_run_returns_its_stored_outputs_without_executing() -> None:
    calls: Counter[str] = Counter()
    graph = pipeline("durable_finished", calls, {"transform": False})

    first = await run_async(graph, {"n": 3}, run_id="run-finished")
    executed = Counter(calls)
    again = await run_async(graph, {"n": 3}, run_id="run-finished")

    assert again == first == {"total": 5, "audited": True}
    assert calls == executed


@pytest.mark.usefixtures("in_memory")
async def test_a_run_id_of_another_graph_is_refused() -> None:
    graph = pipeline("durable_first_graph", Counter(), {"transform": False})
    other = pipeline("durable_other_graph", Counter(), {"transform": False})
    await run_async(graph, {"n": 1}, run_id="run-taken")

    with pytest.raises(ConfigurationError, match="belongs to graph 'durable_first_graph'"):
        await run_async(other, {"n": 1}, run_id="run-taken")


@pytest.mark.usefixtures("in_memory")
async def test_a_cancelled_run_cannot_be_resumed() -> None:
    graph = pipeline("durable_cancelled", Counter(), {"transform": False})
    await run_async(graph, {"n": 1}, run_id="run-done")

    @tool(outputs=["text"], name="question")
    async def question(*, context: Any) -> dict[str, Any]:
        return {"text": await context.channel("durable-nobody").ask_text("anyone?")}

    @graphify(name="durable_waiting_cancelled")
    def waiting():
        return question()

    with scripted_channel(key="durable-nobody"):
        handle = await start_run(waiting, run_id="run-cancelled")
        await handle.next_wait()
        await handle.cancel()
        assert (await get_run_async("run-cancelled")).status is RunStatus.CANCELLED
        with pytest.raises(RunCancelledError, match="start a new run"):
            await run_async(waiting, run_id="run-cancelled")
        # A finished run keeps its status when cancelled.
        assert await cancel_run_async("run-done") is RunStatus.SUCCEEDED


# -- crash and resume in new processes -------------------------------------------------------


def run_program(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROGRAMS / "crash_chain.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def result_of(proc: subprocess.CompletedProcess[str], prefix: str) -> str:
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith(prefix + " ")]
    assert lines, proc.stdout + proc.stderr
    return lines[-1][len(prefix) + 1 :]


def test_a_chain_killed_mid_run_resumes_in_a_new_process_without_redoing_nodes(
    tmp_path: Path,
) -> None:
    """Node n10 of a 20-node chain SIGKILLs its process right after its side effect.

    A new process sees the run as ``interrupted``; resuming it with the same run_id in another
    process runs every node's side effect exactly once, except n10, which was in flight when the
    process died and therefore ran twice. The outputs equal those of an uninterrupted run.
    """
    side = tmp_path / "side_effects.txt"
    env = {
        **os.environ,
        "AETHERGRAPH_WORKSPACE": str(tmp_path / "ws"),
        "AG_TEST_SIDE_EFFECTS": str(side),
    }
    env.pop("AG_TEST_KILL_AT", None)

    killed = run_program("run", "run-crash", env={**env, "AG_TEST_KILL_AT": "10"})
    assert killed.returncode == -9, killed.stderr
    assert side.read_text().split() == [f"n{n:02d}" for n in range(1, 11)]

    assert result_of(run_program("status", "run-crash", env=env), "STATUS") == "interrupted"

    resumed = result_of(run_program("run", "run-crash", env=env), "RESULT")

    seen = Counter(side.read_text().split())
    assert seen.pop("n10") == 2
    assert seen == {f"n{n:02d}": 1 for n in range(1, 21) if n != 10}
    assert result_of(run_program("status", "run-crash", env=env), "STATUS") == "succeeded"

    clean_env = {**env, "AG_TEST_SIDE_EFFECTS": str(tmp_path / "clean.txt")}
    clean = result_of(run_program("run", "run-clean", env=clean_env), "RESULT")
    assert resumed == clean
    assert '"trail": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11' in clean

    record = get_run("run-crash", workspace=tmp_path / "ws")
    assert record.status is RunStatus.SUCCEEDED
    assert record.outputs is not None
    assert record.outputs["trail"] == list(range(1, 21))


def test_resuming_a_run_after_its_graph_was_rewired_is_refused(tmp_path: Path) -> None:
    from aethergraph import run

    calls = {"fail": True}

    @tool(outputs=["y"], name="step_a")
    def step_a(x: int) -> int:
        if calls["fail"]:
            raise RuntimeError("first attempt fails")
        return x + 1

    @tool(outputs=["y"], name="step_b")
    def step_b(x: int) -> int:
        return x * 10

    def build(rewired: bool) -> Any:
        @graphify(name="rewired_graph", inputs=["x"])
        def graph(x):  # type: ignore[no-untyped-def]
            first = step_b(x) if rewired else step_a(x)
            return {"y": first.y}

        return graph

    with current_runtime().scoped(workspace=tmp_path / "ws"):
        original = build(rewired=False)
        with pytest.raises(RuntimeError, match="first attempt fails"):
            run(original, {"x": 1}, run_id="run-rewired")
        calls["fail"] = False
        changed = build(rewired=True)
        with pytest.raises(ConfigurationError, match="has changed since run run-rewired"):
            run(changed, {"x": 1}, run_id="run-rewired")
        # The code it started with (tool bodies may change) still resumes it.
        assert run(build(rewired=False), {"x": 1}, run_id="run-rewired") == {"y": 2}
