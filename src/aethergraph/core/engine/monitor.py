"""The run monitor: what a process hosting runs does for the processes that share its storage.

While runs are live on a loop, one monitor task per storage beats the process's heartbeat (so
others know it is alive), takes the signals other processes left for its runs (``cancel``), and
picks up answers that other processes stored for its open waits. Within a process everything is
pushed; across processes the monitor polls the store every ``POLL_S`` seconds, one cheap query
each, or, on a backend that is a ``ChangeFeed`` (PostgreSQL), looks at the runs another process
answered, signalled or claimed when it does, and at all of them every ``FOLLOWED_LOOK_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import TYPE_CHECKING

from aethergraph.core.engine.liveness import BEAT_S
from aethergraph.storage.protocols import ChangeFeed, Storage
from aethergraph.storage.records import WaitStatus

if TYPE_CHECKING:
    from aethergraph.core.engine.lifecycle import RunState
    from aethergraph.core.engine.runtime import Runtime

__all__ = ["POLL_S", "beat_if_due", "request_cancel", "watch_process_runs"]

POLL_S = 0.2
"""Seconds between two looks at the store for signals and answers from other processes, when the
store cannot tell when they come."""
_EARLY_S = 0.001  # a timer may fire this much before its time
FOLLOWED_LOOK_S = BEAT_S
"""Seconds between two looks at all of the live runs when the store tells which runs other
processes changed (a ``ChangeFeed``): the look for a change missed meanwhile."""

_watched: set[tuple[asyncio.AbstractEventLoop, int]] = set()
_beats: weakref.WeakKeyDictionary[Storage, dict[str, float]] = weakref.WeakKeyDictionary()
"""When each owner last beat into each storage: a monitor started again (one per short run, when
runs come one at a time) beats only when the last beat is ``BEAT_S`` old."""


def watch_process_runs(runtime: Runtime, storage: Storage) -> None:
    """Make sure a monitor runs for ``storage`` on this loop while runs are live on it."""
    key = (asyncio.get_running_loop(), id(storage))
    if key in _watched:
        return
    _watched.add(key)
    runtime.executor.background(_monitor(runtime, storage, key))


async def beat_if_due(runtime: Runtime, storage: Storage) -> None:
    """Record this process's heartbeat in ``storage`` if its last one there is ``BEAT_S`` old.

    Every loop that hosts or holds runs calls this often; the process beats once per ``BEAT_S``.
    """
    beats = _beats.setdefault(storage, {})
    now = runtime.clock.time()
    if now - beats.get(runtime.owner_id, float("-inf")) >= BEAT_S:
        beats[runtime.owner_id] = now
        await storage.beat(runtime.owner_id, now)


def _live_on(runtime: Runtime, storage: Storage, loop: asyncio.AbstractEventLoop) -> list[RunState]:
    return [
        s
        for s in runtime.all_live()
        if s.storage is storage and s.task is not None and s.task.get_loop() is loop
    ]


async def _monitor(
    runtime: Runtime, storage: Storage, key: tuple[asyncio.AbstractEventLoop, int]
) -> None:
    loop = key[0]
    feed = storage.follow_runs() if isinstance(storage, ChangeFeed) else None
    try:
        async with feed if feed is not None else contextlib.nullcontext() as followed:
            every = POLL_S if followed is None else FOLLOWED_LOOK_S
            # The first look comes after one poll: a run that ends sooner is spared the reads,
            # and what came before the changes were followed is found then.
            look_at = loop.time() + POLL_S
            heard: set[str] | None = set()
            while True:
                live = _live_on(runtime, storage, loop)
                if not live:
                    return
                await beat_if_due(runtime, storage)
                now = loop.time()
                if heard is None or now + _EARLY_S >= look_at:
                    looked, look_at = live, now + every  # all of them
                else:
                    looked = [s for s in live if s.run_id in heard]  # those changed elsewhere
                if looked:
                    by_id = {s.run_id: s for s in looked}
                    for run_id, signal in await storage.take_run_signals(list(by_id)):
                        if signal == "cancel":
                            request_cancel(runtime, by_id[run_id])
                    for state in looked:
                        await _pick_up_answers(state)
                # Awake every POLL_S at most, to stop once no run is live here (no reads).
                if followed is None:
                    await asyncio.sleep(POLL_S)
                else:
                    heard = await followed.changed(min(POLL_S, max(look_at - loop.time(), 0.0)))
    finally:
        _watched.discard(key)


async def _pick_up_answers(state: RunState) -> None:
    waits = state._waits
    if waits is None:
        return
    for opened in list(waits.open.values()):
        if opened.answered:
            continue
        stored = await state.storage.get_wait(opened.record.wait_id)
        if stored is not None and stored.status is WaitStatus.ANSWERED and stored.reply:
            opened.answer(stored.reply)


def request_cancel(runtime: Runtime, state: RunState) -> None:
    """Cancel a live run and, with it, its live child runs (thread-safe)."""
    states = [state]
    pending = [state.run_id]
    while pending:
        parent = pending.pop()
        for child in runtime.all_live():
            if child.parent_run_id == parent and child not in states:
                states.append(child)
                pending.append(child.run_id)
    cancelled: set[asyncio.Task[object]] = set()
    for s in states:
        s.cancel_requested = True
        task = s.task
        if task is None or task.done() or task in cancelled:
            continue  # a child awaited in place shares its parent's task: cancel it once
        cancelled.add(task)
        task_loop = task.get_loop()
        try:
            same = asyncio.get_running_loop() is task_loop
        except RuntimeError:
            same = False
        if same:
            task.cancel()
        else:
            task_loop.call_soon_threadsafe(task.cancel)
