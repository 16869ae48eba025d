"""The task-graph scheduler: dependency order, bounded concurrency, a checkpoint after each node.

Running a task graph starts every node whose inputs exist, at most ``max_concurrency`` at a time,
in one ``TaskGroup`` (Kahn's algorithm over dependency counts, fed by a completion queue). Each
finished node's outputs are committed before any dependent starts, so a run resumed with the same
``run_id`` skips what finished and retries what failed or was interrupted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.catalog import find_tool, graph_tools
from aethergraph.core.engine.payload import json_inputs
from aethergraph.core.engine.tool_node import execute_node
from aethergraph.errors import DependencyFailedError, InputValidationError
from aethergraph.storage.records import NodeStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.core.engine.tool import Tool
    from aethergraph.core.graph.spec import TaskGraph

__all__ = ["TaskGraphExecution", "task_graph_execution"]

_executions: dict[int, TaskGraphExecution] = {}


def task_graph_execution(graph: TaskGraph) -> TaskGraphExecution:
    """The execution of ``graph``: with the tools it was traced with, else tools by version."""
    found = _executions.get(id(graph))
    if found is None or found.graph is not graph:
        found = _executions[id(graph)] = TaskGraphExecution(graph)
    return found


class TaskGraphExecution:
    """A task graph as a run; durable: its nodes are checkpointed and its waits survive."""

    kind = "graphify"
    durable = True

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self.graph_id = graph.name
        traced = graph_tools(graph)
        self.tools: dict[str, Tool[..., Any]] = (
            traced
            if traced is not None
            else {n.tool: find_tool(n.tool, n.tool_version, graph=graph.name) for n in graph.nodes}
        )
        spec = json.dumps(graph.to_json(), sort_keys=True, separators=(",", ":"))
        self.digest: str | None = hashlib.sha256(spec.encode()).hexdigest()[:16]

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The graph's inputs with defaults filled in; unknown, missing or non-JSON ones fail."""
        graph = self.graph
        known = (*graph.inputs, *graph.defaults)
        for key in inputs:
            if key not in known:
                raise InputValidationError(
                    f"graph {graph.name!r}: unknown input {key!r} "
                    f"(inputs: {', '.join(known) or 'none'})"
                )
        missing = [k for k in graph.inputs if k not in inputs]
        if missing:
            raise InputValidationError(
                f"graph {graph.name!r}: missing required input(s) {', '.join(map(repr, missing))}"
            )
        return json_inputs({**graph.defaults, **inputs}, f"graph {graph.name!r}")

    async def execute(self, state: RunState) -> dict[str, Any]:
        """Schedule the nodes that have no checkpoint yet; the graph's outputs."""
        return await _Scheduler(self, state).run()


class _Scheduler:
    """Runs one task graph: Kahn's algorithm over the dependency counts, with checkpoints."""

    def __init__(self, execution: TaskGraphExecution, state: RunState) -> None:
        self.graph = execution.graph
        self.tools = execution.tools
        self.state = state
        self.storage = state.storage
        self.limit = state.max_concurrency or 1_000_000
        self.outputs: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, BaseException] = {}
        self.done_q: asyncio.Queue[tuple[str, BaseException | None]] = asyncio.Queue()
        self.running = 0

    async def run(self) -> dict[str, Any]:
        await self._schedule()
        if self.failed:
            first = next(
                e for e in self.failed.values() if not isinstance(e, DependencyFailedError)
            )
            raise first
        return self.graph.resolve_outputs(self.outputs, self.state.record.inputs)

    async def _schedule(self) -> None:
        graph = self.graph
        indeg = graph.indegrees()
        for rec in await self.storage.list_nodes(self.state.run_id):
            if rec.status is NodeStatus.SUCCEEDED and rec.outputs is not None:
                self.outputs[rec.node_id] = rec.outputs
        for node_id in self.outputs:
            for dep in graph.dependents(node_id):
                indeg[dep] -= 1
        ready = deque(
            n for n in graph.topological_order() if indeg[n] == 0 and n not in self.outputs
        )
        async with asyncio.TaskGroup() as group:
            while ready or self.running:
                while ready and self.running < self.limit:
                    self.running += 1
                    group.create_task(self._node(ready.popleft()))
                finished = [await self.done_q.get()]
                while not self.done_q.empty():
                    finished.append(self.done_q.get_nowait())
                # One commit covers every node that finished meanwhile, before dependents start.
                await self.storage.flush()
                for node_id, error in finished:
                    self.running -= 1
                    if error is not None:
                        self.failed[node_id] = error
                        await self._skip_dependents(node_id)
                        continue
                    for dep in graph.dependents(node_id):
                        indeg[dep] -= 1
                        if indeg[dep] == 0 and dep not in self.failed:
                            ready.append(dep)

    async def _node(self, node_id: str) -> None:
        spec = self.graph.node(node_id)
        try:
            arguments = spec.resolve_inputs(self.outputs, self.state.record.inputs)
            outputs = await self._attempts(self.tools[spec.tool], node_id, arguments)
        except Exception as exc:  # noqa: BLE001 - a node's failure is data for the scheduler
            self.done_q.put_nowait((node_id, exc))
            return
        self.outputs[node_id] = outputs
        self.done_q.put_nowait((node_id, None))

    async def _attempts(
        self, tool: Tool[..., Any], node_id: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        policy = tool.retry or self.state.retry

        async def attempt(n: int) -> dict[str, Any]:
            return await execute_node(tool, self.state, node_id, arguments, attempt=n)

        if policy is None:
            return await attempt(1)
        return await policy.call(attempt)

    async def _skip_dependents(self, node_id: str) -> None:
        pending = deque(self.graph.dependents(node_id))
        while pending:
            dep = pending.popleft()
            if dep in self.failed:
                continue
            self.failed[dep] = DependencyFailedError(f"node {dep!r} skipped: {node_id!r} failed")
            spec = self.graph.node(dep)
            await self.state.node_skipped(
                dep, spec.tool, f"skipped because node {node_id!r} failed"
            )
            pending.extend(self.graph.dependents(dep))
