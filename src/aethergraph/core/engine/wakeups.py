"""Durable sleeps outlive their process: a hosting process wakes sleeping runs on time.

A graph_fn in ``await context.sleep(seconds)`` journals its wake-up time first. If its process
stops meanwhile, the run is left interrupted with that sleep as its last step. A process hosting
the workspace (the server) runs ``wake_sleeping_runs``, which resumes such a run when its time
comes; the replay sleeps only what is left and goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.runs import list_runs_async, submit_run_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import AetherGraphError
from aethergraph.storage.records import NodeStatus, RunStatus

if TYPE_CHECKING:
    from aethergraph.storage.records import RunRecord

__all__ = ["wake_sleeping_runs"]

logger = logging.getLogger(__name__)

LOOK_S = 1.0
"""Seconds between two looks for runs left sleeping by a process that stopped."""


async def wake_sleeping_runs(*, look_s: float = LOOK_S) -> None:
    """Resume, each at its wake-up time, the graph_fn runs whose process stopped mid-sleep.

    Runs until cancelled. A run whose graph this process does not define is logged once and left
    for a process that does.
    """
    runtime = current_runtime()
    checked: dict[str, float | None] = {}  # run id -> its wake-up time, or None: not sleeping
    while True:
        # Reading the running ones marks those whose process died interrupted.
        await list_runs_async(status=RunStatus.RUNNING, limit=1000)
        interrupted = await list_runs_async(status=RunStatus.INTERRUPTED, limit=1000)
        now = runtime.clock.time()
        soonest = now + look_s
        for record in interrupted:
            if record.run_id not in checked:
                checked[record.run_id] = await _wake_time(record)
            wake = checked[record.run_id]
            if wake is None:
                continue
            if wake <= now:
                checked[record.run_id] = None
                await _resume(record)
            else:
                soonest = min(soonest, wake)
        await asyncio.sleep(max(0.0, soonest - runtime.clock.time()))


async def _wake_time(record: RunRecord) -> float | None:
    """When the run wakes, if its last step is a durable sleep; ``None`` otherwise."""
    if record.kind != "graph_fn":
        return None
    nodes = await current_runtime().storage().list_nodes(record.run_id)
    last = next((n for n in reversed(nodes) if "." not in n.node_id), None)
    if last is None or not last.node_id.startswith("sleep_"):
        return None
    if last.status is not NodeStatus.SUCCEEDED or not isinstance(last.outputs, dict):
        return None
    wake: Any = last.outputs.get("result")
    return float(wake) if isinstance(wake, int | float) else None


async def _resume(record: RunRecord) -> None:
    try:
        graph = find_graph(record.graph_id, run_id=record.run_id)
        await submit_run_async(graph, run_id=record.run_id)
    except AetherGraphError as exc:
        logger.warning(
            "could not wake run %s of graph %r: %s",
            record.run_id,
            record.graph_id,
            exc,
            extra={"run_id": record.run_id, "graph_id": record.graph_id},
        )
