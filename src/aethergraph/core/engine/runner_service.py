"""``context.runner()``: start child runs, await them, cancel them.

A child run started with ``spawn_run`` belongs to its parent: cancelling the parent cancels it,
and ``wait_run`` is woken by the child's own end, or by its event stream when it runs elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from aethergraph.core.engine.events import watch_run
from aethergraph.core.engine.run import run_async
from aethergraph.core.engine.runs import cancel_run_async, get_run_async, submit_run_async
from aethergraph.errors import NodeTimeoutError, RunError
from aethergraph.services.runtime.registry import BuiltinService, register_builtin
from aethergraph.storage.records import RunStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aethergraph.core.engine.context import NodeContext
    from aethergraph.core.engine.options import RunOptionArgs

__all__ = ["Runner"]


class Runner:
    """Child runs of the calling node's run (they record it as ``parent_run_id``)."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx

    async def spawn_run(
        self, target: Any, inputs: Mapping[str, Any] | None = None, **opts: Unpack[RunOptionArgs]
    ) -> str:
        """Start a child run in the background; its run id."""
        return await submit_run_async(target, inputs, **opts)

    async def wait_run(self, run_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The outputs of a run once it finishes (raising what it raised, if it failed here)."""
        runtime = self._ctx._run.runtime
        try:
            async with runtime.clock.timeout(timeout_s):
                live = runtime.live.get(run_id)
                if live is not None:
                    return await live.outcome()
                return await _finished(run_id)
        except TimeoutError:
            raise NodeTimeoutError(f"run {run_id} did not finish within {timeout_s} s") from None

    async def run_and_wait(
        self, target: Any, inputs: Mapping[str, Any] | None = None, **opts: Unpack[RunOptionArgs]
    ) -> dict[str, Any]:
        """Run a child to completion and return its outputs."""
        return await run_async(target, inputs, **opts)

    async def cancel_run(self, run_id: str) -> RunStatus:
        """Cancel a run (see ``aethergraph.runtime.cancel_run``)."""
        return await cancel_run_async(run_id)


async def _finished(run_id: str) -> dict[str, Any]:
    record = await get_run_async(run_id)
    if not record.status.is_terminal:
        async for _event in watch_run(run_id):
            pass
        record = await get_run_async(run_id)
    if record.status is RunStatus.SUCCEEDED:
        return record.outputs or {}
    raise RunError(f"run {run_id} ended {record.status}: {record.error}")


class _Runners(BuiltinService):
    def bind(self, ctx: NodeContext) -> Runner:
        return Runner(ctx)


register_builtin("runner", _Runners())
