"""A run's event stream, read from outside the run: a page of events, or a follower.

Every change a run goes through is an event with a per-run sequence number (``lifecycle``
publishes them). ``watch_run`` follows a run until its final event: pushed when the run lives in
this process, polled from the store when it lives in another process on the same workspace.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from aethergraph.core.engine.lifecycle import FINAL_STATUSES
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.sync_bridge import sync_twin

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.storage.records import RunEvent

__all__ = ["is_final", "list_run_events", "list_run_events_async", "watch_run"]

Workspace = str | os.PathLike[str] | None
_PAGE = 1000
POLL_S = 0.05
"""Seconds between two reads of the store while following a run of another process."""
_FINAL = frozenset(str(s) for s in FINAL_STATUSES)


def is_final(event: RunEvent) -> bool:
    """Whether ``event`` ends its run's stream (the run finished, failed, was cancelled or lost)."""
    return event.type == "run_status" and event.data.get("status") in _FINAL


async def list_run_events_async(
    run_id: str, *, after: int = 0, limit: int = 1000, workspace: Workspace = None
) -> list[RunEvent]:
    """The run's events with a sequence number above ``after``, in order, at most ``limit``."""
    storage = current_runtime().storage(workspace)
    return await storage.list_run_events(run_id, after=after, limit=limit)


async def watch_run(
    run_id: str, *, after: int = 0, workspace: Workspace = None
) -> AsyncIterator[RunEvent]:
    """Yield the run's events after ``after`` as they happen, ending after its final event.

    The final event is the run's latest one with a final status: a run that failed and was
    resumed goes on past its first ``failed``.
    """
    runtime = current_runtime()
    storage = runtime.storage(workspace)
    flag = asyncio.Event()
    watching: RunState | None = None
    seen = after
    last: RunEvent | None = None
    try:
        while True:
            flag.clear()
            if watching is None:
                watching = _attach(run_id, flag)
            batch = await storage.list_run_events(run_id, after=seen, limit=_PAGE)
            for event in batch:
                seen = event.seq
                last = event
                yield event
            if last is not None and len(batch) < _PAGE and is_final(last):
                return  # the run's latest event ends it (a resumed run has more after one)
            if watching is not None and watching.run_id not in runtime.live:
                _detach(watching, flag)
                watching = None
                continue  # the run just ended here: read its last events
            try:
                async with asyncio.timeout(POLL_S if watching is None else 1.0):
                    await flag.wait()
            except TimeoutError:
                pass
    finally:
        if watching is not None:
            _detach(watching, flag)


def _attach(run_id: str, flag: asyncio.Event) -> RunState | None:
    state = current_runtime().live.get(run_id)
    if state is not None:
        if state.wakeup is None:
            state.wakeup = []
        state.wakeup.append((asyncio.get_running_loop(), flag))
    return state


def _detach(state: RunState, flag: asyncio.Event) -> None:
    if state.wakeup is not None:
        state.wakeup = [(loop, f) for loop, f in state.wakeup if f is not flag] or None


list_run_events = sync_twin(list_run_events_async)
