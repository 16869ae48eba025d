"""Runs a Ray worker left waiting for an answer: held by the process that dispatched them.

A run that asks a human and gets no answer at once stops on its worker (its worker slot is free
for other runs; its state, journal and open wait are in PostgreSQL) and comes back to the
dispatching process, which becomes its owner again: alive, so a reply from any process stores its
answer instead of resuming the run where it is given, and heartbeating, so that holds across
hosts. Once no wait of the run is open, the dispatcher sends it to a worker again (any of them),
where it resumes by replay and goes on from the answer.

A wait with a deadline expires on time: once it has passed, the run goes to a worker, where the
wait times out as it would in process (``NodeTimeoutError``, or the question's default).

Another process may take the run over meanwhile: one that cancels it, or a reply from this very
process (which resumes the run itself, through the same executor). The dispatcher then follows
the run in the store and gives its caller the outcome recorded there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.lifecycle import mark_stored
from aethergraph.core.engine.liveness import BEAT_S
from aethergraph.core.engine.monitor import POLL_S, beat_if_due
from aethergraph.errors import RunCancelledError, RunError
from aethergraph.storage.protocols import ChangeFeed
from aethergraph.storage.records import RunEvent, RunStatus, WaitStatus

if TYPE_CHECKING:
    from aethergraph.core.engine.runtime import Runtime
    from aethergraph.storage.protocols import Storage
    from aethergraph.storage.records import RunRecord

__all__ = ["hold_until_answered", "release_waiting", "stored_outcome"]

_PAGE = 1000

HELD_POLL_S = 1.0
"""Seconds between two looks at a held run when the store cannot wake its holder."""
HELD_LOOK_S = 30.0
"""Seconds between two looks at a held run when the store wakes its holder at each change to it
(PostgreSQL's NOTIFY, which every answer, signal and claim of a run sends, from any process): a
look for a change missed meanwhile."""


async def hold_until_answered(runtime: Runtime, run_id: str, worker: str) -> RunRecord | None:
    """Own a run ``worker`` left waiting until its waits are answered; the record to dispatch.

    ``None`` when another process took the run over (or its worker was not the owner any more).

    Raises:
        RunCancelledError: when a cancel signal for the run arrives while it is held.
    """
    storage = runtime.storage()
    stored = await storage.get_run(run_id)
    if stored is None or stored.status is not RunStatus.WAITING or stored.owner != worker:
        return None
    held = dataclasses.replace(stored, owner=runtime.owner_id)
    if not await storage.claim_run(held, expect_status=RunStatus.WAITING, expect_owner=worker):
        return None
    try:
        return await _hold(runtime, storage, run_id)
    except asyncio.CancelledError:
        # The caller gave up: leave the run to whoever replies, rather than to this process.
        await asyncio.shield(release_waiting(runtime, run_id, runtime.owner_id))
        raise


async def _hold(runtime: Runtime, storage: Storage, run_id: str) -> RunRecord | None:
    """Look at the held run when it changes (or its wait's deadline comes) until it can go on.

    Between looks the holder keeps its process beating (once per process, see ``beat_if_due``).
    """
    feed = storage.follow_run(run_id) if isinstance(storage, ChangeFeed) else None
    async with feed if feed is not None else contextlib.nullcontext() as followed:
        look_every = HELD_LOOK_S if followed is not None else HELD_POLL_S
        while True:
            await beat_if_due(runtime, storage)
            current = await storage.get_run(run_id)
            if current is None or current.owner != runtime.owner_id:
                return None
            if any(s == "cancel" for _, s in await storage.take_run_signals([run_id])):
                await _cancel(runtime, storage, current)
            if current.status is not RunStatus.WAITING:
                return None
            opened = await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN)
            deadline = min((w.deadline for w in opened if w.deadline is not None), default=None)
            if not opened or (deadline is not None and deadline <= runtime.clock.time()):
                # Answered, or a wait ran past its deadline: the worker it goes to expires it.
                await _answered(runtime, storage, run_id)
                return current
            next_look = runtime.clock.time() + look_every
            if deadline is not None:
                next_look = min(next_look, deadline)
            while (left := next_look - runtime.clock.time()) > 0:
                if followed is None:
                    await asyncio.sleep(left)
                    break
                if await followed.changed(min(left, BEAT_S)):
                    break
                await beat_if_due(runtime, storage)


async def _answered(runtime: Runtime, storage: Storage, run_id: str) -> None:
    """Add ``wait_answered`` to the run's events for its waits answered while nobody hosted it.

    The process that hosts a run publishes its events; a held run has no host but its holder.
    """
    asked: set[str] = set()
    told: set[str] = set()
    after = 0
    while page := await storage.list_run_events(run_id, after=after, limit=_PAGE):
        for event in page:
            if event.type == "wait_opened":
                asked.add(event.data["wait_id"])
            elif event.type == "wait_answered":
                told.add(event.data["wait_id"])
        if len(page) < _PAGE:
            break
        after = page[-1].seq
    seq = await storage.last_run_event_seq(run_id)
    for wait in await storage.list_waits(run_id=run_id, status=WaitStatus.ANSWERED):
        if wait.wait_id in asked and wait.wait_id not in told:
            seq += 1
            data = {"wait_id": wait.wait_id, "node_id": wait.node_id}
            storage.append_run_event(
                RunEvent(run_id, seq, runtime.clock.time(), "wait_answered", data)
            )
    await storage.flush()


async def stored_outcome(runtime: Runtime, run_id: str) -> dict[str, Any]:
    """The outputs of a run another process hosts, once its record says it ended.

    Raises:
        RunCancelledError: when it was cancelled.
        RunError: when it failed or was interrupted, with the error it recorded.
    """
    storage = runtime.storage()
    while True:
        record = await storage.get_run(run_id)
        if record is None:
            raise RunError(f"run {run_id} is no longer in {storage.location}")
        if record.status is RunStatus.SUCCEEDED:
            return dict(record.outputs or {})
        if record.status is RunStatus.CANCELLED:
            raise RunCancelledError(f"run {run_id} of graph {record.graph_id!r} was cancelled")
        if record.status.is_terminal:
            raise RunError(
                f"run {run_id} of graph {record.graph_id!r} ended {record.status} in another "
                f"process: {record.error}"
            )
        await asyncio.sleep(POLL_S)  # its end is no notification: looked for every POLL_S


async def _cancel(runtime: Runtime, storage: Storage, record: RunRecord) -> None:
    """Mark a held waiting run cancelled, with its open waits; raise ``RunCancelledError``."""
    if await mark_stored(storage, record, RunStatus.CANCELLED, runtime) is not None:
        for wait in await storage.list_waits(run_id=record.run_id, status=WaitStatus.OPEN):
            wait.status = WaitStatus.CANCELLED
            await storage.put_wait(wait)
        await storage.flush()
    raise RunCancelledError(f"run {record.run_id} of graph {record.graph_id!r} was cancelled")


async def release_waiting(runtime: Runtime, run_id: str, owner: str) -> None:
    """Leave a waiting run of ``owner`` owned by nobody: a reply resumes it where it is given."""
    storage = runtime.storage()
    stored = await storage.get_run(run_id)
    if stored is not None and stored.status is RunStatus.WAITING and stored.owner == owner:
        released = dataclasses.replace(stored, owner=None)
        await storage.claim_run(released, expect_status=RunStatus.WAITING, expect_owner=owner)
