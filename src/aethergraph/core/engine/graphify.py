"""``@graphify`` and the task-graph scheduler: dependency order, bounded concurrency, checkpoints.

A builder function is traced once, at decoration, into a frozen ``TaskGraph``. Running it starts
every node whose inputs exist, at most ``max_concurrency`` at a time, in one ``TaskGroup``. Each
finished node's outputs are committed before any dependent starts, so a run resumed with the same
``run_id`` skips what finished and retries what failed or was interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.catalog import find_graph, register_graph
from aethergraph.core.engine.liveness import owner_alive, recover_interrupted
from aethergraph.core.engine.run_state import RunState
from aethergraph.core.engine.tool import Tool, declared_tools
from aethergraph.core.engine.tool_node import execute_node
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.core.graph.tracing import GraphBuilder, building
from aethergraph.errors import (
    ConfigurationError,
    DependencyFailedError,
    GraphDefinitionError,
    InputValidationError,
    OutputContractError,
    RunCancelledError,
)
from aethergraph.services.runtime.registry import ensure_services_started
from aethergraph.storage.records import NodeRecord, NodeStatus, RunRecord, RunStatus, WaitRecord

if TYPE_CHECKING:
    from aethergraph.core.engine.host import Host
    from aethergraph.core.engine.run import RunOptions
    from aethergraph.storage.protocols import Storage

__all__ = ["graphify", "resume_with_reply", "run_task_graph", "task_graph_of"]


class _Definition:
    """A traced graph, the tool objects its nodes name, and a digest of its structure."""

    __slots__ = ("digest", "graph", "tools")

    def __init__(self, graph: TaskGraph, tools: dict[str, Tool]) -> None:
        self.graph = graph
        self.tools = tools
        spec = json.dumps(graph.to_json(), sort_keys=True, separators=(",", ":"))
        self.digest = hashlib.sha256(spec.encode()).hexdigest()[:16]


_definitions: dict[int, _Definition] = {}


def graphify(
    name: str | Callable[..., Any] | None = None,
    *,
    inputs: Sequence[str] | Mapping[str, Any] = (),
    outputs: Sequence[str] | None = None,
    version: str = "0.1.0",
) -> Any:
    """Trace a sync builder function into a ``TaskGraph``: ``@graphify(name=..., inputs=[...])``.

    ``inputs`` lists required inputs, or maps optional ones to defaults. Calling ``@tool``s in
    the builder declares nodes; their handles wire outputs to inputs.
    """
    if callable(name):
        return _trace(name, name.__name__, inputs, outputs, version)

    def decorate(fn: Callable[..., Any]) -> TaskGraph:
        return _trace(fn, name or fn.__name__, inputs, outputs, version)

    return decorate


def _trace(
    fn: Callable[..., Any],
    name: str,
    inputs: Sequence[str] | Mapping[str, Any],
    outputs: Sequence[str] | None,
    version: str,
) -> TaskGraph:
    if asyncio.iscoroutinefunction(fn):
        raise GraphDefinitionError(
            f"@graphify {name!r} decorates an async function; the builder must be a plain "
            "function that only wires tools (put async work inside @tool functions)"
        )
    if isinstance(inputs, Mapping):
        required: tuple[str, ...] = ()
        defaults = dict(inputs)
    else:
        required, defaults = tuple(inputs), {}
    builder = GraphBuilder(name, version, required, defaults)
    tools: dict[str, Tool] = {}
    refs = builder.input_refs()
    with building(builder), declared_tools(tools):
        try:
            returned = fn(**refs)
        except TypeError as exc:
            exc.add_note(
                f"@graphify {name!r} calls its builder with its declared inputs "
                f"({', '.join(refs) or 'none'}) as keyword arguments; declare them with inputs=..."
            )
            raise
    graph = builder.finish(returned, outputs)
    _definitions[id(graph)] = _Definition(graph, tools)
    register_graph(name, graph)
    return graph


def task_graph_of(target: Any) -> TaskGraph | None:
    """``target`` as a task graph, or ``None`` when it is not one."""
    return target if isinstance(target, TaskGraph) else None


def _definition(graph: TaskGraph) -> _Definition:
    found = _definitions.get(id(graph))
    if found is None or found.graph is not graph:
        raise ConfigurationError(
            f"graph {graph.name!r} was not made by @graphify in this process, so its tools are "
            "unknown; run the graph object that @graphify returned"
        )
    return found


def _graph_inputs(graph: TaskGraph, inputs: Mapping[str, Any]) -> dict[str, Any]:
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
    merged = {**graph.defaults, **inputs}
    try:
        json.dumps(merged)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(
            f"graph {graph.name!r}: inputs must be JSON so the run can be resumed ({exc})"
        ) from exc
    return merged


async def run_task_graph(
    host: Host, graph: TaskGraph, inputs: Mapping[str, Any], options: RunOptions
) -> dict[str, Any]:
    """Run (or resume, with an existing ``run_id``) a task graph and return its outputs."""
    definition = _definition(graph)
    storage = host.storage(options.workspace)
    prior = None
    if options.run_id:
        await recover_interrupted(storage, host)
        prior = await storage.get_run(options.run_id)
    if prior is not None:
        if inputs and _graph_inputs(graph, inputs) != prior.inputs:
            raise InputValidationError(
                f"run {prior.run_id} was started with inputs {prior.inputs}; resuming it with "
                "other inputs would mix two computations. Resume with the same inputs (or none), "
                "or start a new run"
            )
        return await _continue(host, definition, storage, prior, options)
    from aethergraph.core.engine.run import new_run_id

    now = time.time()
    record = RunRecord(
        options.run_id or new_run_id(),
        graph.name,
        RunStatus.RUNNING,
        "graphify",
        _graph_inputs(graph, inputs),
        created_at=now,
        started_at=now,
        session_id=options.session_id,
        owner=host.owner_id,
        graph_digest=definition.digest,
    )
    await storage.put_run(record)
    await storage.flush()
    return await _Scheduler(host, definition, storage, record, options).run()


async def _continue(
    host: Host,
    definition: _Definition,
    storage: Storage,
    prior: RunRecord,
    options: RunOptions,
    *,
    suspend_on_wait: bool = False,
) -> dict[str, Any]:
    if prior.graph_id != definition.graph.name:
        raise ConfigurationError(
            f"run {prior.run_id} belongs to graph {prior.graph_id!r}, not "
            f"{definition.graph.name!r}; use a new run_id"
        )
    if prior.status is RunStatus.SUCCEEDED:
        return prior.outputs or {}
    if prior.graph_digest is not None and prior.graph_digest != definition.digest:
        raise ConfigurationError(
            f"graph {definition.graph.name!r} has changed since run {prior.run_id} started (its "
            "nodes or wiring differ), so its checkpoints no longer match; resume it with the "
            "code it started with, or start a new run. Changing what a tool does inside is fine."
        )
    if prior.status is RunStatus.CANCELLED:
        raise RunCancelledError(f"run {prior.run_id} was cancelled; start a new run instead")
    live = host.live.get(prior.run_id)
    if live is not None:
        return await live.outcome()
    if prior.status in (RunStatus.RUNNING, RunStatus.WAITING) and owner_alive(prior.owner, host):
        raise ConfigurationError(
            f"run {prior.run_id} is {prior.status} in another live process ({prior.owner}); "
            "reply to it or wait for it there"
        )
    prior.status = RunStatus.RUNNING
    prior.owner = host.owner_id
    prior.error = None
    prior.finished_at = None
    await storage.put_run(prior)
    await storage.flush()
    scheduler = _Scheduler(host, definition, storage, prior, options)
    scheduler.state.suspend_on_wait = suspend_on_wait
    return await scheduler.run()


async def resume_with_reply(
    host: Host, storage: Storage, record: RunRecord, wait: WaitRecord, payload: dict[str, Any]
) -> RunRecord:
    """Store the answer to a stored wait and, unless its run lives in another process, resume it.

    The graph is looked up before the answer is stored: a process that has not imported it gets
    a ``GraphNotFoundError`` and the wait stays open, so the reply can be repeated once it has.
    """
    from aethergraph.storage.records import WaitStatus

    resume_here = not (owner_alive(record.owner, host) and record.owner != host.owner_id)
    graph = None
    if resume_here and record.kind == "graphify":
        graph = find_graph(record.graph_id, run_id=record.run_id)
    wait.status = WaitStatus.ANSWERED
    wait.reply = payload
    await storage.put_wait(wait)
    await storage.flush()
    if not resume_here:
        return record  # the live process sees the answer and continues
    if graph is None:
        raise ConfigurationError(
            f"run {record.run_id} is a graph_fn whose process has ended; its Python code cannot "
            "be resumed after a restart (only @graphify runs can). The answer was stored."
        )
    from aethergraph.core.engine.run import RunOptions

    options = RunOptions({"run_id": record.run_id})
    # The run's record says how it ended; the replier gets the record either way.
    with contextlib.suppress(Exception):
        await _continue(host, _definition(graph), storage, record, options, suspend_on_wait=True)
    final = await storage.get_run(record.run_id)
    assert final is not None
    return final


class _Scheduler:
    """Runs one task graph: Kahn's algorithm over the dependency counts, with checkpoints."""

    def __init__(
        self,
        host: Host,
        definition: _Definition,
        storage: Storage,
        record: RunRecord,
        options: RunOptions,
    ) -> None:
        self.graph = definition.graph
        self.tools = definition.tools
        self.storage = storage
        self.state = RunState(host, storage, record, durable=True)
        self.state.retry = options.retry
        self.limit = options.max_concurrency or 1_000_000
        self.timeout_s = options.timeout_s
        self.outputs: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, BaseException] = {}
        self.done_q: asyncio.Queue[tuple[str, BaseException | None]] = asyncio.Queue()
        self.running = 0

    async def run(self) -> dict[str, Any]:
        state = self.state
        host = state.host
        host.live[state.run_id] = state
        state.task = asyncio.current_task()
        timeout = asyncio.timeout(self.timeout_s)
        try:
            await ensure_services_started()
            async with timeout:
                await self._schedule()
            result = self._finish()
        except BaseException as exc:
            # Node failures carry their node's note already; nothing to add at the run level.
            raised = await state.fail(exc, deadline=timeout, timeout_s=self.timeout_s)
            if raised is exc:
                raise
            raise raised from (None if isinstance(exc, asyncio.CancelledError) else exc)
        finally:
            host.live.pop(state.run_id, None)
        return await state.succeed(result)

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
        self, tool: Tool, node_id: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        policy = tool.retry or self.state.retry

        async def attempt(n: int) -> dict[str, Any]:
            outputs = await execute_node(tool, self.state, node_id, arguments, attempt=n)
            _check_json(node_id, tool, outputs)
            return outputs

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
            await self.storage.put_node(
                NodeRecord(
                    self.state.run_id,
                    dep,
                    spec.tool,
                    NodeStatus.SKIPPED,
                    {},
                    error=(f"skipped because node {node_id!r} failed"),
                )
            )
            pending.extend(self.graph.dependents(dep))

    def _finish(self) -> dict[str, Any]:
        if self.failed:
            first = next(
                e for e in self.failed.values() if not isinstance(e, DependencyFailedError)
            )
            raise first
        return self.graph.resolve_outputs(self.outputs, self.state.record.inputs)


def _check_json(node_id: str, tool: Tool, outputs: dict[str, Any]) -> None:
    for key, value in outputs.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise OutputContractError(
                f"node {node_id!r} (tool {tool.name!r}) returned output {key!r} of type "
                f"{type(value).__name__}, which is not JSON; task graph outputs are checkpointed "
                "as JSON, so return JSON values (save large or binary data as artifacts)"
            ) from exc
