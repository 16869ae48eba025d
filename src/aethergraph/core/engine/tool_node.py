"""A ``@tool`` called inside a running node: a child node of the run, with its own record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.context import NodeContext
from aethergraph.core.engine.failure import annotate, describe, is_cancellation
from aethergraph.errors import NodeTimeoutError
from aethergraph.services.runtime.base import _current_context
from aethergraph.storage.records import NodeStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.core.engine.retry import RetryPolicy
    from aethergraph.core.engine.tool import Tool

__all__ = ["call_tool_node", "execute_node"]


def call_tool_node(
    tool: Tool[..., Any], parent: NodeContext, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coroutine[Any, Any, dict[str, Any]]:
    """Prepare ``tool`` as a child node of ``parent``'s run; await the result for its outputs.

    Not a coroutine itself: the arguments are bound (and bad ones reported) at the call, and
    awaiting goes straight into the node, one frame fewer on every tool call.
    """
    context_param = tool.sig.context_param
    if context_param is not None:
        # The seed passes context=context: the node still gets a context of its own.
        kwargs.pop(context_param, None)
    inputs = tool.sig.bind(args, kwargs) if args else kwargs
    run = parent._run
    node_id = run.next_node_id(tool.name, parent.node_id)
    if run.journal is not None:
        recorded = run.journal.step(node_id)
        if recorded is not None:
            return run.replay(recorded)
    policy = tool.retry or run.retry
    if run.limiter is None and policy is None:
        return execute_node(tool, run, node_id, inputs)
    return _with_policies(tool, run, node_id, inputs, policy)


async def _with_policies(
    tool: Tool[..., Any],
    run: RunState,
    node_id: str,
    inputs: dict[str, Any],
    policy: RetryPolicy | None,
) -> dict[str, Any]:
    async def attempt(n: int) -> dict[str, Any]:
        if run.limiter is None:
            return await execute_node(tool, run, node_id, inputs, attempt=n)
        async with run.limiter:
            return await execute_node(tool, run, node_id, inputs, attempt=n)

    if policy is None:
        return await attempt(1)
    return await policy.call(attempt)


def _call(tool: Tool[..., Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
    """Call the tool's function with its context injected (a coroutine if the tool is async)."""
    context_param = tool.sig.context_param
    inputs = tool.sig.call_inputs(inputs)
    try:
        if context_param is None:
            return tool.body(**inputs)
        kwargs = dict(inputs)
        kwargs[context_param] = ctx
        return tool.body(**kwargs)
    except TypeError as exc:
        tool.sig.check_call(exc, inputs)  # a wrong keyword: say which, and the close name
        raise


async def execute_node(
    tool: Tool[..., Any],
    run: RunState,
    node_id: str,
    inputs: dict[str, Any],
    *,
    attempt: int = 1,
    check: Callable[[str, Tool[..., Any], dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Execute one node of ``run``: record it, inject its context, apply the output contract.

    The tool's ``timeout_s`` limits the attempt; running past it fails the node (not cancels it)
    with a ``NodeTimeoutError``. ``check`` may refuse the outputs before the node succeeds.
    """
    record = await run.node_started(node_id, tool.name, inputs, attempt)
    ctx = NodeContext(run, node_id)
    token = _current_context.set(ctx)
    timeout_s = tool.timeout_s
    scope = None
    try:
        if timeout_s is None:
            result = _call(tool, inputs, ctx)
            if tool.is_async:
                result = await result
        else:
            scope = run.runtime.clock.timeout(timeout_s)
            async with scope:
                result = _call(tool, inputs, ctx)
                if tool.is_async:
                    result = await result
        outputs = tool.sig.to_outputs(result, run.run_id, node_id)
        if check is not None:
            check(node_id, tool, outputs)
    except BaseException as exc:
        if run.suspend_requested and is_cancellation(exc):
            raise  # the run stops hosting itself at a wait: its node stays waiting
        error = exc
        if isinstance(exc, TimeoutError) and scope is not None and scope.expired():
            error = NodeTimeoutError(
                f"node {node_id!r} (tool {tool.name!r}) in run {run.run_id} ran past its "
                f"timeout_s={tool.timeout_s}"
            )
        status = NodeStatus.CANCELLED if is_cancellation(error) else NodeStatus.FAILED
        await run.node_finished(record, status, error=describe(error))
        annotate(error, run.run_id, run.graph_id, node_id)
        if error is exc:
            raise
        raise error from exc
    finally:
        _current_context.reset(token)
    await run.node_finished(record, NodeStatus.SUCCEEDED, outputs=outputs)
    return outputs
