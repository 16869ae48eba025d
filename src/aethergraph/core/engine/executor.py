"""Where runs execute: the ``Executor`` protocol and the default in-process executor.

The lifecycle writes a run's record before it hands the run to the executor, so a run that was
dispatched is never unrecorded. The in-process executor runs it on the caller's task (no task or
thread hop on the common path); an executor for a cluster dispatches the run id to a worker,
which executes the stored run there.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from aethergraph.storage.records import RunRecord

__all__ = ["BackgroundTasks", "Executor", "InProcessExecutor"]

Outputs = dict[str, Any]


class Executor(Protocol):
    """Runs recorded runs somewhere, and stops them on request."""

    inline: bool
    """Whether runs execute on the awaiting task (the lifecycle then skips ``submit``)."""

    async def start(self) -> None:
        """Get ready to take runs (connect to a cluster, ...)."""

    def submit(
        self, record: RunRecord, execute: Callable[[], Coroutine[Any, Any, Outputs]]
    ) -> Awaitable[Outputs]:
        """Execute the recorded run; await the result for its outputs.

        ``execute`` runs it in this process; an executor that runs elsewhere dispatches
        ``record.run_id`` instead and executes the stored run there.
        """

    def background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` without awaiting it; it is cancelled and awaited by ``close()``."""

    async def close(self) -> None:
        """Stop what runs in the background and release resources."""


class BackgroundTasks:
    """Tasks an executor started and owns until each ends, for its ``background`` and ``close``."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``work`` as a task kept here until it ends."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel(self) -> None:
        """Cancel the tasks of the running loop and wait until they have stopped."""
        loop = asyncio.get_running_loop()
        mine = [t for t in self._tasks if t.get_loop() is loop and not t.done()]
        for task in mine:
            task.cancel()
        await asyncio.gather(*mine, return_exceptions=True)


class InProcessExecutor:
    """Runs execute on the awaiting task of this process; background runs are tasks it owns."""

    inline = True

    def __init__(self) -> None:
        self._background = BackgroundTasks()

    async def start(self) -> None:
        """Nothing to prepare in process."""

    def submit(
        self, record: RunRecord, execute: Callable[[], Coroutine[Any, Any, Outputs]]
    ) -> Awaitable[Outputs]:
        """The run's coroutine itself: awaiting it executes the run on the caller's task."""
        return execute()

    def background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start ``work`` as a task this executor owns until it ends."""
        return self._background.start(work)

    async def close(self) -> None:
        """Cancel the background runs of the running loop and wait until they have stopped."""
        await self._background.cancel()
