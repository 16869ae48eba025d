"""The runs of a workspace, seen from outside any run: list, get, submit, cancel, reply.

Reads tell the truth about liveness every time: a run recorded ``running`` whose owning process is
gone is shown (and stored) ``interrupted`` by whichever process reads it, a server included.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Unpack

from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.lifecycle import (
    RunState,
    Taken,
    admit,
    mark_stored,
    name_child_run,
    run_admitted,
    start_run,
)
from aethergraph.core.engine.liveness import owner_alive
from aethergraph.core.engine.monitor import request_cancel
from aethergraph.core.engine.options import RunOptionArgs, RunOptions, new_run_id
from aethergraph.core.engine.run import execution_of
from aethergraph.core.engine.runtime import Runtime, current_runtime
from aethergraph.core.engine.sync_bridge import sync_twin
from aethergraph.core.engine.waits import reply_payload
from aethergraph.errors import ConfigurationError, RunError, RunNotFoundError, RunWaitingError
from aethergraph.services.runtime.base import current_context
from aethergraph.storage.records import RunRecord, RunStatus, WaitStatus

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping

    from aethergraph.storage.protocols import Storage

__all__ = [
    "cancel_run",
    "cancel_run_async",
    "get_run",
    "get_run_async",
    "list_runs",
    "list_runs_async",
    "reply",
    "reply_async",
    "submit_run_async",
]

Workspace = str | os.PathLike[str] | None
_MAYBE_ORPHANED = (RunStatus.RUNNING, RunStatus.PENDING)


async def _truthful(runtime: Runtime, storage: Storage, record: RunRecord) -> RunRecord:
    """``record``, or its ``interrupted`` version when its owner died while it ran."""
    if record.status not in _MAYBE_ORPHANED or await owner_alive(record, runtime, storage):
        return record
    changed = await mark_stored(storage, record, RunStatus.INTERRUPTED, runtime)
    if changed is not None:
        return changed
    fresh = await storage.get_run(record.run_id)
    return fresh if fresh is not None else record


_STATUS_NAMES = frozenset(s.value for s in RunStatus)


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
    for name, number, least in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(number, bool) or not isinstance(number, int) or number < least:
            raise ConfigurationError(
                f"list_runs({name}={number!r}): {name} must be an int >= {least}"
            )
    if status is not None and status not in _STATUS_NAMES:
        raise ConfigurationError(
            f"list_runs(status={status!r}): not a run status; use one of "
            f"{', '.join(sorted(_STATUS_NAMES))}"
        )
    runtime = current_runtime()
    storage = runtime.storage(workspace)
    wanted = RunStatus(status) if status is not None else None
    records = await storage.list_runs(
        status=wanted,
        graph_id=graph_id,
        session_id=session_id,
        parent_run_id=parent_run_id,
        limit=limit,
        offset=offset,
    )
    shown = [await _truthful(runtime, storage, r) for r in records]
    if wanted is not None and any(r.status is not wanted for r in shown):
        # Some turned out interrupted: list again so the page is full of what was asked for.
        return await list_runs_async(
            status=status,
            graph_id=graph_id,
            session_id=session_id,
            parent_run_id=parent_run_id,
            limit=limit,
            offset=offset,
            workspace=workspace,
        )
    return shown


async def get_run_async(run_id: str, *, workspace: Workspace = None) -> RunRecord:
    """The record of one run.

    Raises:
        RunNotFoundError: (a ``KeyError``) when the workspace has no such run.
    """
    runtime = current_runtime()
    storage = runtime.storage(workspace)
    record = await storage.get_run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run {run_id!r} in workspace {storage.location}")
    return await _truthful(runtime, storage, record)


async def submit_run_async(
    target: Any, inputs: Mapping[str, Any] | None = None, **opts: Unpack[RunOptionArgs]
) -> str:
    """Start a run in the background of this loop and return its run id once it is recorded.

    Bad inputs raise here, before anything is recorded. The run belongs to the runtime's
    executor, which cancels it when it is closed; the Ray executor runs it on a worker. A
    ``run_id`` of a finished run, or of one already live here, starts nothing.
    """
    runtime = current_runtime()
    execution = execution_of(target)
    options = name_child_run(RunOptions(opts), execution)
    if options.run_id is None:
        options = options.with_run_id(new_run_id())
    admitted = await admit(runtime, execution, inputs or {}, options)
    if not isinstance(admitted, Taken):
        task = runtime.executor.background(run_admitted(admitted))
        task.add_done_callback(_retrieve)
        parent = current_context()
        if parent is not None:
            # A child run belongs to its parent: the parent ends after it, or stops it.
            children = parent._run.children
            if children is None:
                children = parent._run.children = set()
            children.add(task)
            task.add_done_callback(children.discard)
    assert options.run_id is not None
    return options.run_id


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a background run's exception retrieved: its record says how it ended."""
    if not task.cancelled():
        task.exception()


async def cancel_run_async(run_id: str, *, workspace: Workspace = None) -> RunStatus:
    """Cancel a run, wherever it runs.

    A run live in this process stops (with its child runs); one live in another process gets a
    cancel signal that its process acts on within a fraction of a second; a stored run that no
    process hosts (waiting, interrupted) is marked cancelled. Returns the status after the call
    (``cancelled``, or the status of a run that had already finished).
    """
    runtime = current_runtime()
    state = runtime.live.get(run_id)
    if state is not None and state.task is not None:
        request_cancel(runtime, state)
        return RunStatus.CANCELLED
    storage = runtime.storage(workspace)
    record = await get_run_async(run_id, workspace=workspace)
    for _attempt in range(5):
        if record.status.is_terminal:
            return record.status
        if record.status in (RunStatus.RUNNING, RunStatus.WAITING) and await owner_alive(
            record, runtime, storage
        ):
            await storage.signal_run(run_id, "cancel")
            return RunStatus.CANCELLED
        changed = await mark_stored(storage, record, RunStatus.CANCELLED, runtime)
        if changed is not None:
            for wait in await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN):
                wait.status = WaitStatus.CANCELLED
                await storage.put_wait(wait)
            await storage.flush()
            return changed.status
        record = await get_run_async(run_id, workspace=workspace)
    raise RunError(f"run {run_id} kept changing while being cancelled; try again")


async def reply_async(
    run_id: str,
    *,
    text: str | None = None,
    choice: str | None = None,
    workspace: Workspace = None,
) -> RunRecord:
    """Answer the open wait of a run.

    A run live in this process continues there and this returns at once; one live in another
    process gets the answer through the store. A run waiting in the workspace with no live
    process is resumed here, and this returns when it finishes or waits again. When several
    processes reply at once, one resumes the run and the others get ``RunError`` saying it
    was answered elsewhere.

    Raises:
        ValueError: when the answer does not fit the wait (e.g. a choice that is not an option).
        RunError: when the run has no open wait, or another reply took it.
    """
    runtime = current_runtime()
    state = runtime.live.get(run_id)
    opened = state.waits.pending() if state is not None else None
    if state is not None and opened is not None:
        opened.answer(reply_payload(opened.record, text, choice))
        return state.record
    storage = runtime.storage(workspace)
    record = await get_run_async(run_id, workspace=workspace)
    waits = await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN)
    # A run hosted by another process stores its wait before it records itself waiting: an
    # answer in between is stored for its host too (a running run read here has a live owner).
    elsewhere = record.status is RunStatus.RUNNING and record.owner != runtime.owner_id
    if not waits or not (record.status is RunStatus.WAITING or elsewhere):
        answered = await storage.list_waits(run_id=run_id, status=WaitStatus.ANSWERED)
        raise RunError(
            f"run {run_id} (graph {record.graph_id!r}, status {record.status}) has no open wait "
            "to reply to"
            + ("; its question was answered elsewhere" if answered and not waits else "")
        )
    wait = waits[0]
    payload = reply_payload(wait, text, choice)
    if await owner_alive(record, runtime, storage):
        wait.status = WaitStatus.ANSWERED
        wait.reply = payload
        await storage.put_wait(wait)
        await storage.flush()
        return record  # the live owner picks the answer up and continues
    if record.status is not RunStatus.WAITING:
        raise RunError(
            f"run {run_id} (graph {record.graph_id!r}) stopped while being answered; "
            "reply again to resume it"
        )
    return await _resume_with_answer(runtime, workspace, record, wait.wait_id, payload)


async def _resume_with_answer(
    runtime: Runtime,
    workspace: Workspace,
    record: RunRecord,
    wait_id: str,
    payload: dict[str, Any],
) -> RunRecord:
    """Claim a waiting run nobody hosts, store the answer, and run it until it ends or waits.

    The graph is found and the claim made before the answer is stored: a resume that cannot
    happen here (the graph is not imported, or has changed) raises and leaves the wait open.
    """
    storage = runtime.storage(workspace)
    graph = find_graph(record.graph_id, run_id=record.run_id)
    execution = execution_of(graph)

    async def answer(state: RunState) -> None:
        stored = await storage.get_wait(wait_id)
        if stored is not None:
            stored.status = WaitStatus.ANSWERED
            stored.reply = payload
            await storage.put_wait(stored)
            state.publish("wait_answered", {"wait_id": wait_id, "node_id": stored.node_id})
            await storage.flush()
        state.suspend_on_wait = True  # return to the replier when it asks its next question

    options = RunOptions({"run_id": record.run_id, "workspace": workspace})
    try:
        await start_run(runtime, execution, {}, options, prepare=answer)
    except ConfigurationError as exc:
        if "another live process" not in str(exc):
            raise
        raise RunError(
            f"run {record.run_id} was answered elsewhere: another process resumed it first"
        ) from exc
    except RunWaitingError:
        pass
    except Exception:  # noqa: BLE001 - how the run ended is in its record, returned below
        pass
    final = await storage.get_run(record.run_id)
    assert final is not None
    return final


list_runs = sync_twin(list_runs_async)
get_run = sync_twin(get_run_async)
cancel_run = sync_twin(cancel_run_async)
reply = sync_twin(reply_async, close=True)
