"""The runs of a workspace, seen from outside any run: list, get, cancel, reply."""

from __future__ import annotations

import asyncio
import os

from aethergraph.core.engine.host import get_host
from aethergraph.core.engine.liveness import recover_interrupted
from aethergraph.core.engine.run_state import reply_payload
from aethergraph.core.engine.sync_bridge import sync_twin
from aethergraph.errors import RunError, RunNotFoundError
from aethergraph.storage.records import RunRecord, RunStatus, WaitStatus

__all__ = [
    "cancel_run",
    "cancel_run_async",
    "get_run",
    "get_run_async",
    "list_runs",
    "list_runs_async",
    "reply",
    "reply_async",
]

Workspace = str | os.PathLike[str] | None


async def list_runs_async(
    *,
    status: RunStatus | str | None = None,
    graph_id: str | None = None,
    session_id: str | None = None,
    parent_run_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    workspace: Workspace = None,
) -> list[RunRecord]:
    """Runs in the workspace, newest first, optionally filtered."""
    host = get_host()
    storage = host.storage(workspace)
    await recover_interrupted(storage, host)
    return await storage.list_runs(
        status=RunStatus(status) if status is not None else None,
        graph_id=graph_id,
        session_id=session_id,
        parent_run_id=parent_run_id,
        limit=limit,
        offset=offset,
    )


async def get_run_async(run_id: str, *, workspace: Workspace = None) -> RunRecord:
    """The record of one run.

    Raises:
        RunNotFoundError: (a ``KeyError``) when the workspace has no such run.
    """
    host = get_host()
    storage = host.storage(workspace)
    await recover_interrupted(storage, host)
    record = await storage.get_run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in workspace {storage.location}")
    return record


async def cancel_run_async(run_id: str, *, workspace: Workspace = None) -> RunStatus:
    """Cancel a run: a live one stops its running nodes; a stored waiting one is marked cancelled.

    Returns the run's status after the call (a finished run keeps its status).
    """
    host = get_host()
    state = host.live.get(run_id)
    if state is not None and state.task is not None:
        state.cancel_requested = True
        loop = state.task.get_loop()
        if loop is asyncio.get_running_loop():
            state.task.cancel()
        else:
            loop.call_soon_threadsafe(state.task.cancel)
        return RunStatus.CANCELLED
    storage = host.storage(workspace)
    record = await get_run_async(run_id, workspace=workspace)
    if record.status.is_terminal:
        return record.status
    for wait in await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN):
        wait.status = WaitStatus.CANCELLED
        await storage.put_wait(wait)
    record.status = RunStatus.CANCELLED
    await storage.put_run(record)
    await storage.flush()
    return record.status


async def reply_async(
    run_id: str,
    *,
    text: str | None = None,
    choice: str | None = None,
    workspace: Workspace = None,
) -> RunRecord:
    """Answer the open wait of a run.

    A run live in this process continues there and this returns at once. A run that is waiting in
    the workspace with no live process is resumed here from its checkpoint, and this returns when
    it finishes or waits again.

    Raises:
        ValueError: when the answer does not fit the wait (e.g. a choice that is not an option).
        RunError: when the run has no open wait.
    """
    host = get_host()
    state = host.live.get(run_id)
    opened = state.pending_wait() if state is not None else None
    if state is not None and opened is not None:
        opened.answer(reply_payload(opened.record, text, choice))
        return state.record
    storage = host.storage(workspace)
    record = await get_run_async(run_id, workspace=workspace)
    waits = await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN)
    if not waits:
        raise RunError(
            f"run {run_id} (graph {record.graph_id!r}, status {record.status}) has no open wait "
            "to reply to"
        )
    from aethergraph.core.engine.graphify import resume_with_reply

    payload = reply_payload(waits[0], text, choice)
    return await resume_with_reply(host, storage, record, waits[0], payload)


list_runs = sync_twin(list_runs_async)
get_run = sync_twin(get_run_async)
cancel_run = sync_twin(cancel_run_async)
reply = sync_twin(reply_async, close=True)
