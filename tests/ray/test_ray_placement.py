"""Placed tools (``@tool(resources=...)``) under the Ray executor: the body runs as a Ray task."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import run_async
from aethergraph.runtime import (
    NodeStatus,
    list_artifacts_async,
    list_nodes_async,
    list_run_events_async,
    list_runs_async,
)
from tests.ray import graphs
from tests.ray.test_ray_executor import test_every_ray_socket_stays_on_loopback as on_loopback

if TYPE_CHECKING:
    from aethergraph.core.engine.executors.ray import RayExecutor

pytestmark = pytest.mark.timeout(120)


async def test_a_placed_tool_runs_as_a_ray_task_in_another_process_its_node_with_the_run(
    on_ray: RayExecutor, ray_cluster: Any
) -> None:
    outputs = await run_async(graphs.placing, {"x": 21, "text": "gpu"})
    assert outputs["twice"] == 42
    assert outputs["shout"] == "GPU"
    worker = outputs["worker_pid"]
    assert worker != os.getpid()
    assert outputs["cpu_pid"] not in (worker, os.getpid())
    assert outputs["trainer_pid"] not in (worker, os.getpid())
    # The nodes are the run's, recorded by the worker hosting it, as for any tool.
    (record,) = [r for r in await list_runs_async(graph_id="ray_placing") if r.outputs == outputs]
    assert record.owner in {s.owner for s in on_ray._slots}
    nodes = await list_nodes_async(record.run_id)
    placed = [(n.tool, n.status, n.inputs) for n in nodes if n.node_id != "root"]
    assert placed == [
        ("ray_placed_cpu", NodeStatus.SUCCEEDED, {"x": 21}),
        ("ray_placed_trainer", NodeStatus.SUCCEEDED, {"text": "gpu"}),
    ]
    events = await list_run_events_async(record.run_id)
    assert [e.data.get("tool") for e in events if e.type == "node"].count("ray_placed_cpu") >= 2
    on_loopback(ray_cluster)  # the task workers the tools ran in included


async def test_a_placed_tool_in_a_task_graph_runs_as_a_ray_task(on_ray: RayExecutor) -> None:
    outputs = await run_async(graphs.placed_graph, {"x": 5})
    assert outputs["twice"] == 10
    assert outputs["pid"] != os.getpid()


async def test_an_exception_in_a_placed_tool_reaches_the_caller_unchanged(
    on_ray: RayExecutor,
) -> None:
    with pytest.raises(ValueError, match="no trainer today"):
        await run_async(graphs.placing_fails, {"why": "no trainer today"})
    (record,) = await list_runs_async(graph_id="ray_placing_fails")
    (node,) = [n for n in await list_nodes_async(record.run_id) if n.node_id != "root"]
    assert node.status is NodeStatus.FAILED
    assert "no trainer today" in str(node.error)


async def test_large_arguments_and_results_of_a_placed_tool_travel_as_artifacts(
    on_ray: RayExecutor,
) -> None:
    text = "a" * (3 << 19)  # 1.5 MiB of JSON each way
    outputs = await run_async(graphs.placing, {"x": 1, "text": text})
    assert outputs["shout"] == text.upper()
    (record,) = [r for r in await list_runs_async(graph_id="ray_placing") if r.outputs == outputs]
    kinds = sorted(a.kind for a in await list_artifacts_async(run_id=record.run_id))
    assert kinds == ["tool_arguments", "tool_result"]
