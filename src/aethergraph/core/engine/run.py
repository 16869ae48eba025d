"""``run`` and ``run_async``: execute a graph_fn, a tool or a task graph as a recorded run."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Unpack

from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.failure import annotate
from aethergraph.core.engine.journal import Journal
from aethergraph.core.engine.lifecycle import ROOT_NODE, start_run
from aethergraph.core.engine.options import NO_OPTIONS, RunOptionArgs, RunOptions
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.scheduler import task_graph_execution
from aethergraph.core.engine.signature import DeclaredFunction
from aethergraph.core.engine.sync_bridge import call_sync, on_loop
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.errors import ConfigurationError, InputValidationError
from aethergraph.services.runtime.base import _current_context

if TYPE_CHECKING:
    from aethergraph.core.engine.lifecycle import Execution, RunState

__all__ = ["ROOT_NODE", "FunctionExecution", "execution_of", "run", "run_async"]


class FunctionExecution:
    """A graph_fn (or a tool run on its own) as a run: its body is the function, node ``root``."""

    __slots__ = ("digest", "durable", "graph_id", "kind", "target")

    def __init__(self, target: DeclaredFunction[..., Any]) -> None:
        self.target = target
        self.kind = target.sig.kind
        self.graph_id = target.name
        self.digest: str | None = None
        self.durable = True  # its steps are journaled and its waits outlive the process

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Unknown or missing inputs are an ``InputValidationError`` naming them."""
        sig = self.target.sig
        return sig.run_inputs(inputs, sig.where)

    async def execute(self, state: RunState) -> dict[str, Any]:
        """Call the function with the run's inputs (and its context) as node ``root``.

        A resumed run replays: its recorded steps return their results without executing.
        """
        state.journaled = True
        if state.resumed:
            records = await state.storage.list_nodes(state.run_id)
            if records:
                state.journal = Journal(state.run_id, state.graph_id, records)
        target = self.target
        ctx = NodeContext(state, ROOT_NODE)
        token = _current_context.set(ctx)
        try:
            context_param = target.sig.context_param
            inputs = target.sig.call_inputs(state.record.inputs)
            if context_param is None:
                result = target.body(**inputs)
            else:
                result = target.body(**inputs, **{context_param: ctx})
            if target.is_async:
                result = await result
            return target.sig.to_outputs(result, state.run_id, ROOT_NODE)
        except Exception as exc:
            annotate(exc, state.run_id, state.graph_id, ROOT_NODE)
            raise
        finally:
            _current_context.reset(token)


def execution_of(target: Any) -> Execution:
    """The run kind of ``target``: a graph_fn or tool, or a task graph."""
    if isinstance(target, DeclaredFunction):
        execution: FunctionExecution | None = target.__dict__.get("_execution")
        if execution is None:
            execution = target.__dict__["_execution"] = FunctionExecution(target)
        return execution
    if isinstance(target, TaskGraph):
        return task_graph_execution(target)
    raise ConfigurationError(
        f"run() takes a @graph_fn, a @tool or a @graphify graph; got {target!r}"
    )


def run(
    target: Any, inputs: Mapping[str, Any] | None = None, **opts: Unpack[RunOptionArgs]
) -> dict[str, Any]:
    """Run ``target`` to completion and return its outputs dict.

    Re-raises the user's exception unchanged (with a note naming the run and node). Without a
    server, the services this call started are closed before it returns.
    """
    return call_sync(
        lambda: run_async(target, inputs, **opts), what="run", async_name="run_async", close=True
    )


async def run_async(
    target: Any, inputs: Mapping[str, Any] | None = None, **opts: Unpack[RunOptionArgs]
) -> dict[str, Any]:
    """Run ``target`` (a graph_fn, a tool or a task graph) and return its outputs dict."""
    options = RunOptions(opts) if opts else NO_OPTIONS
    if inputs is None:
        inputs = {}
    elif type(inputs) is not dict and not isinstance(inputs, Mapping):
        raise InputValidationError(
            f"inputs must be a mapping of input names to values, got {type(inputs).__name__}"
        )
    runtime = current_runtime()
    owner = runtime.owner_loop
    work = start_run(runtime, execution_of(target), inputs, options)
    if owner is not None and owner is not asyncio.get_running_loop() and owner.is_running():
        return await asyncio.wrap_future(on_loop(owner, work, contextvars.copy_context()))
    return await work
