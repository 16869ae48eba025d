"""``context.runner()``: start child runs, await them, cancel them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.runs import cancel_run_async, get_run_async
from aethergraph.errors import NodeTimeoutError, RunError
from aethergraph.storage.records import RunStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aethergraph.core.engine.context import NodeContext

__all__ = ["Runner"]

_children: dict[str, asyncio.Task[dict[str, Any]]] = {}


class Runner:
    """Child runs of the calling node's run (they record it as ``parent_run_id``)."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx

    async def spawn_run(
        self, target: Any, inputs: Mapping[str, Any] | None = None, **opts: Any
    ) -> str:
        """Start a child run in the background; its run id."""
        from aethergraph.core.engine.run import new_run_id, run_async

        run_id = opts.pop("run_id", None) or new_run_id()
        task = asyncio.ensure_future(run_async(target, inputs, run_id=run_id, **opts))
        _children[run_id] = task
        task.add_done_callback(lambda _t: _children.pop(run_id, None))
        # Let it record itself before the caller can ask about it.
        await asyncio.sleep(0)
        return run_id

    async def wait_run(self, run_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
        """The outputs of a run once it finishes (raising what it raised, if it failed here)."""
        try:
            async with asyncio.timeout(timeout_s):
                task = _children.get(run_id)
                if task is not None:
                    return await asyncio.shield(task)
                return await _poll_finished(run_id)
        except TimeoutError:
            raise NodeTimeoutError(f"run {run_id} did not finish within {timeout_s} s") from None

    async def run_and_wait(
        self, target: Any, inputs: Mapping[str, Any] | None = None, **opts: Any
    ) -> dict[str, Any]:
        """Run a child to completion and return its outputs."""
        from aethergraph.core.engine.run import run_async

        return await run_async(target, inputs, **opts)

    async def cancel_run(self, run_id: str) -> RunStatus:
        """Cancel a run (see ``aethergraph.runtime.cancel_run``)."""
        return await cancel_run_async(run_id)


async def _poll_finished(run_id: str) -> dict[str, Any]:
    delay = 0.01
    while True:
        record = await get_run_async(run_id)
        if record.status is RunStatus.SUCCEEDED:
            return record.outputs or {}
        if record.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise RunError(f"run {run_id} ended {record.status}: {record.error}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
