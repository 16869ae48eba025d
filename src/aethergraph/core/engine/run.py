"""``run`` and ``run_async``: execute a graph_fn, a tool or a task graph as a recorded run."""

from __future__ import annotations

import asyncio
import difflib
import itertools
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.graph_fn import GraphFunction
from aethergraph.core.engine.host import Host, get_host
from aethergraph.core.engine.retry import RetryPolicy
from aethergraph.core.engine.run_state import RunState
from aethergraph.core.engine.sync_bridge import call_sync
from aethergraph.core.engine.tool import Tool
from aethergraph.errors import (
    ConfigurationError,
    InputValidationError,
)
from aethergraph.services.runtime.base import _current_context
from aethergraph.services.runtime.registry import ensure_services_started, services_started
from aethergraph.storage.records import RunRecord, RunStatus

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["ROOT_NODE", "RunOptions", "new_run_id", "run", "run_async"]

ROOT_NODE = "root"
_FUNCTION_TYPES = (GraphFunction, Tool)
_host = get_host()
_OPTION_NAMES = ("max_concurrency", "retry", "run_id", "session_id", "timeout_s", "workspace")


class RunOptions:
    """The options a run accepts; anything else is an error, never silently ignored."""

    __slots__ = _OPTION_NAMES

    def __init__(self, opts: Mapping[str, Any]) -> None:
        for key in opts:
            if key not in _OPTION_NAMES:
                close = difflib.get_close_matches(key, _OPTION_NAMES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"unknown run option {key!r}{hint} (options: {', '.join(_OPTION_NAMES)})"
                )
        self.run_id: str | None = _opt_str(opts, "run_id")
        self.session_id: str | None = _opt_str(opts, "session_id")
        self.workspace: Any = opts.get("workspace")
        mc = opts.get("max_concurrency")
        if mc is not None and (not isinstance(mc, int) or isinstance(mc, bool) or mc < 1):
            raise ConfigurationError(f"max_concurrency must be a positive int, got {mc!r}")
        self.max_concurrency: int | None = mc
        self.retry: RetryPolicy | None = RetryPolicy.coerce(opts.get("retry"))
        t = opts.get("timeout_s")
        if t is not None and (not isinstance(t, int | float) or t <= 0):
            raise ConfigurationError(f"timeout_s must be a positive number, got {t!r}")
        self.timeout_s: float | None = t


def _opt_str(opts: Mapping[str, Any], key: str) -> str | None:
    value = opts.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{key} must be a non-empty string, got {value!r}")
    return value


_NO_OPTIONS = RunOptions({})


_run_counter = itertools.count(1)
_run_prefix = ""


def _draw_run_prefix() -> None:
    global _run_prefix
    _run_prefix = f"run-{int(time.time() * 1000):011x}{os.urandom(4).hex()}-"


_draw_run_prefix()
os.register_at_fork(after_in_child=_draw_run_prefix)


def new_run_id() -> str:
    """A unique run id: ``run-<process start ms><random>-<counter>``, sortable within a process.

    The prefix is drawn once per process (and again in a forked child), so making an id costs
    a counter step instead of a random draw.
    """
    return f"{_run_prefix}{next(_run_counter):08x}"


def run(target: Any, inputs: Mapping[str, Any] | None = None, **opts: Any) -> dict[str, Any]:
    """Run ``target`` to completion and return its outputs dict.

    Re-raises the user's exception unchanged (with a note naming the run and node). Without a
    server, the services this call started are closed before it returns.
    """
    return call_sync(
        lambda: run_async(target, inputs, **opts), what="run", async_name="run_async", close=True
    )


async def run_async(
    target: Any, inputs: Mapping[str, Any] | None = None, **opts: Any
) -> dict[str, Any]:
    """Run ``target`` (a graph_fn, a tool or a task graph) and return its outputs dict."""
    options = RunOptions(opts) if opts else _NO_OPTIONS
    if inputs is None:
        inputs = {}
    elif type(inputs) is not dict and not isinstance(inputs, Mapping):
        raise InputValidationError(
            f"inputs must be a mapping of input names to values, got {type(inputs).__name__}"
        )
    host = _host
    owner = host.owner_loop
    if owner is not None and owner is not asyncio.get_running_loop() and owner.is_running():
        future = asyncio.run_coroutine_threadsafe(_dispatch(host, target, inputs, options), owner)
        return await asyncio.wrap_future(future)
    if isinstance(target, _FUNCTION_TYPES):
        return await _run_function(host, target, inputs, options)
    return await _dispatch(host, target, inputs, options)


async def _dispatch(
    host: Host, target: Any, inputs: Mapping[str, Any], options: RunOptions
) -> dict[str, Any]:
    if isinstance(target, _FUNCTION_TYPES):
        return await _run_function(host, target, inputs, options)
    from aethergraph.core.engine.graphify import run_task_graph, task_graph_of

    graph = task_graph_of(target)
    if graph is not None:
        return await run_task_graph(host, graph, inputs, options)
    raise ConfigurationError(
        f"run() takes a @graph_fn, a @tool or a @graphify graph; got {target!r}"
    )


async def _prior_outputs(storage: Storage, run_id: str, graph_id: str, host: Host) -> Any:
    """Outputs of a finished run with this id, or ``None`` to (re)execute it."""
    prior = await storage.get_run(run_id)
    if prior is None:
        return None
    if prior.graph_id != graph_id:
        raise ConfigurationError(
            f"run {run_id} belongs to graph {prior.graph_id!r}, not {graph_id!r}; use a new run_id"
        )
    if prior.status is RunStatus.SUCCEEDED:
        return prior.outputs or {}
    if run_id in host.live:
        raise ConfigurationError(f"run {run_id} is already running in this process")
    if prior.status is RunStatus.CANCELLED:
        raise ConfigurationError(f"run {run_id} was cancelled; start a new run instead")
    return None


async def _run_function(
    host: Host, target: GraphFunction | Tool, inputs: Mapping[str, Any], options: RunOptions
) -> dict[str, Any]:
    kind = target.sig.kind
    target.sig.check_inputs(inputs, target.sig.where)
    storage = host.storage(options.workspace)
    run_id = options.run_id
    if run_id is None:
        run_id = new_run_id()
    else:
        done = await _prior_outputs(storage, run_id, target.name, host)
        if done is not None:
            return done  # type: ignore[no-any-return]
    parent = _current_context.get()
    now = time.time()
    record = RunRecord(
        run_id,
        target.name,
        RunStatus.RUNNING,
        kind,
        dict(inputs),
        None,
        None,
        now,
        now,
        None,
        parent.run_id if parent is not None else None,
        options.session_id or (parent.session_id if parent is not None else None),
        host.owner_id,
    )
    await storage.put_run(record)
    state = RunState(host, storage, record)
    if options.max_concurrency is not None:
        state.limiter = asyncio.Semaphore(options.max_concurrency)
    state.retry = options.retry
    host.live[run_id] = state
    state.task = asyncio.current_task()
    ctx = NodeContext(state, ROOT_NODE)
    token = _current_context.set(ctx)
    timeout = None
    try:
        if not services_started():
            await ensure_services_started()
        kwargs = dict(inputs)
        if target.sig.context_param is not None:
            kwargs[target.sig.context_param] = ctx
        if options.timeout_s is None:
            result = target.fn(**kwargs)
            if target.is_async:
                result = await result
        else:
            timeout = asyncio.timeout(options.timeout_s)
            async with timeout:
                result = target.fn(**kwargs)
                if target.is_async:
                    result = await result
        outputs = target.sig.to_outputs(result, run_id)
    except BaseException as exc:
        raised = await state.fail(
            exc, deadline=timeout, timeout_s=options.timeout_s, node_id=ROOT_NODE
        )
        if raised is exc:
            raise
        raise raised from (None if isinstance(exc, asyncio.CancelledError) else exc)
    finally:
        _current_context.reset(token)
        host.live.pop(run_id, None)
    return await state.succeed(outputs)
