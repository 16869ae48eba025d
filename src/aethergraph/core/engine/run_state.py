"""The live state of one run in this process: its record, node numbering, open waits, cancel flag.

``RunState`` is also the run's ``WaitHost``: a channel question opens a wait here, which stores the
continuation, marks the run ``waiting`` and resolves with the first answer from the adapter's local
input, ``reply()`` or the server.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.failure import annotate, describe
from aethergraph.errors import ChannelError, NodeTimeoutError, RunCancelledError, RunWaitingError
from aethergraph.services.console import choice_from_answer
from aethergraph.storage.records import RunRecord, RunStatus, WaitRecord, WaitStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aethergraph.core.engine.host import Host
    from aethergraph.storage.protocols import Storage

__all__ = ["OpenWait", "RunState", "reply_payload"]


class OpenWait:
    """A wait of a live run, answerable from any thread."""

    __slots__ = ("answered", "future", "loop", "record")

    def __init__(self, record: WaitRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.record = record
        self.loop = loop
        self.future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.answered = False

    def answer(self, payload: dict[str, Any]) -> None:
        """Resolve the wait with ``payload`` (thread-safe)."""
        # Set at once, not when the loop settles the future: the next reply must go elsewhere.
        self.answered = True

        def settle() -> None:
            if not self.future.done():
                self.future.set_result(payload)

        if _running_loop() is self.loop:
            settle()
        else:
            self.loop.call_soon_threadsafe(settle)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def reply_payload(record: WaitRecord, text: str | None, choice: str | None) -> dict[str, Any]:
    """Check an answer against a wait and shape it as ``{"text", "choice"}``.

    Raises:
        ValueError: when no answer is given, or the choice is not one of the wait's options.
    """
    if text is None and choice is None:
        raise ValueError(f"reply to {record.kind} {record.prompt!r} needs text= or choice=")
    if not record.options:
        return {"text": text if text is not None else choice, "choice": choice}
    picked = choice_from_answer(choice if choice is not None else str(text), record.options)
    if picked is None:
        raise ValueError(
            f"{choice if choice is not None else text!r} is not an option of {record.kind} "
            f"{record.prompt!r} in run {record.run_id}; options: {', '.join(record.options)} "
            "(or their numbers from 1)"
        )
    return {"text": text if text is not None else picked, "choice": picked}


class RunState:
    """One run live in this process."""

    __slots__ = (
        "_ask_counts",
        "_counters",
        "_watchers",
        "cancel_requested",
        "durable",
        "graph_id",
        "host",
        "limiter",
        "open_waits",
        "parent_run_id",
        "record",
        "retry",
        "run_id",
        "session_id",
        "storage",
        "suspend_on_wait",
        "suspend_requested",
        "task",
    )

    def __init__(
        self, host: Host, storage: Storage, record: RunRecord, *, durable: bool = False
    ) -> None:
        self.host = host
        self.storage = storage
        self.record = record
        self.run_id = record.run_id
        self.graph_id = record.graph_id
        self.session_id = record.session_id
        self.parent_run_id = record.parent_run_id
        self.durable = durable
        self.cancel_requested = False
        # Leave the run ``waiting`` in the workspace at its next wait instead of hosting it.
        self.suspend_on_wait = False
        self.suspend_requested = False
        self.task: asyncio.Task[Any] | None = None
        self.open_waits: dict[str, OpenWait] = {}
        self.limiter: asyncio.Semaphore | None = None
        self.retry: Any = None
        self._counters: dict[str, int] = {}
        self._ask_counts: dict[str, int] = {}
        self._watchers: list[asyncio.Future[dict[str, Any]]] | None = None

    async def outcome(self) -> dict[str, Any]:
        """Wait for this run to end; its outputs, or what it raised."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._watchers is None:
            self._watchers = []
        self._watchers.append(fut)
        return await fut

    def settle(self, outputs: dict[str, Any] | None, error: BaseException | None) -> None:
        """Tell whoever awaits ``outcome()`` how the run ended."""
        for fut in self._watchers or ():
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(outputs or {})

    def node_started(self, node_id: str) -> None:
        """Restart the numbering of a node's questions (they are matched to stored waits)."""
        self._ask_counts.pop(node_id, None)

    def pending_wait(self) -> OpenWait | None:
        """The first open wait that no reply has answered yet."""
        return next((w for w in self.open_waits.values() if not w.answered), None)

    @property
    def waits(self) -> RunState:
        """The run's wait host (itself)."""
        return self

    def next_node_id(self, name: str) -> str:
        """A node id unique in the run: ``name_1``, ``name_2``, ..."""
        n = self._counters.get(name, 0) + 1
        self._counters[name] = n
        return f"{name}_{n}"

    async def set_status(self, status: RunStatus) -> None:
        """Move the run's record to ``status`` and make it durable."""
        if self.record.status is not status:
            self.record.status = status
            await self.storage.put_run(self.record)
            await self.storage.flush()

    async def wait(
        self,
        record: WaitRecord,
        *,
        local: Callable[[WaitRecord], Awaitable[str]] | None,
        timeout_s: float | None,
        announce: Callable[[WaitRecord], Awaitable[None]],
    ) -> dict[str, Any]:
        """Open a wait (or find it again on resume), mark the run waiting, return the answer.

        The n-th question of a node gets the id ``run/node/n``, so a resumed node asking again
        finds its stored wait: an answered one returns its answer at once, an open one is
        awaited again without asking twice.
        """
        n = self._ask_counts.get(record.node_id, 0) + 1
        self._ask_counts[record.node_id] = n
        record.wait_id = f"{self.run_id}/{record.node_id}/{n}"
        stored = await self.storage.get_wait(record.wait_id)
        if stored is not None and stored.status is WaitStatus.ANSWERED and stored.reply:
            return stored.reply
        is_new = stored is None or stored.status is not WaitStatus.OPEN
        if not is_new and stored is not None:
            record = stored
            if record.deadline is not None:
                timeout_s = max(0.001, record.deadline - time.time())
        else:
            await self.storage.put_wait(record)
        # Registered and durable before the question goes out: an answer that comes back while
        # the channel is still delivering it must find the wait.
        opened = OpenWait(record, asyncio.get_running_loop())
        self.open_waits[record.wait_id] = opened
        try:
            await self.set_status(RunStatus.WAITING)
            if is_new:
                await announce(record)
            if self.suspend_on_wait and self.task is not None:
                # The wait is durable and announced: stop hosting the run; it stays waiting.
                self.suspend_requested = True
                self.task.cancel()
            async with asyncio.timeout(timeout_s):
                payload = await self._first_answer(opened, local)
        except TimeoutError:
            record.status = WaitStatus.EXPIRED
            await self.storage.put_wait(record)
            raise NodeTimeoutError(
                f"{record.kind} {record.prompt!r} in run {self.run_id}, node {record.node_id!r} "
                f"got no reply within {timeout_s} s"
            ) from None
        except BaseException:
            if record.status is WaitStatus.OPEN and not self.durable:
                record.status = WaitStatus.CANCELLED
                await asyncio.shield(self.storage.put_wait(record))
            raise
        finally:
            self.open_waits.pop(record.wait_id, None)
            if not self.open_waits:
                await asyncio.shield(self.set_status(RunStatus.RUNNING))
        record.status = WaitStatus.ANSWERED
        record.reply = payload
        await self.storage.put_wait(record)
        await self.storage.flush()
        return payload

    async def _first_answer(
        self, opened: OpenWait, local: Callable[[WaitRecord], Awaitable[str]] | None
    ) -> dict[str, Any]:
        if self.durable:
            poller = asyncio.ensure_future(self._poll_stored_answer(opened))
            try:
                return await self._race_local(opened, local)
            finally:
                poller.cancel()
        return await self._race_local(opened, local)

    async def _poll_stored_answer(self, opened: OpenWait) -> None:
        """Pick up an answer another process stored (``reply()`` while this one waits)."""
        while not opened.future.done():
            await asyncio.sleep(0.2)
            stored = await self.storage.get_wait(opened.record.wait_id)
            if stored is not None and stored.status is WaitStatus.ANSWERED and stored.reply:
                opened.answer(stored.reply)

    async def _race_local(
        self, opened: OpenWait, local: Callable[[WaitRecord], Awaitable[str]] | None
    ) -> dict[str, Any]:
        if local is None:
            return await opened.future
        reader = asyncio.ensure_future(local(opened.record))
        try:
            racers: set[asyncio.Future[Any]] = {opened.future, reader}
            await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
            if opened.future.done():
                return opened.future.result()
            try:
                text = reader.result()
            except EOFError as exc:
                if self.durable:
                    if self.host.owner_loop is None and self.task is not None:
                        # Nobody in this process can answer (no input, no server): leave the
                        # run waiting in the workspace for a reply from elsewhere.
                        self.suspend_requested = True
                        self.task.cancel()
                    return await opened.future
                raise ChannelError(
                    f"{opened.record.kind} {opened.record.prompt!r} in run {self.run_id}, node "
                    f"{opened.record.node_id!r} needs an answer, but standard input is at its "
                    "end (the process is not interactive). Run it in a terminal or pipe the "
                    "answer in, answer from code with aethergraph.runtime.reply(run_id, text=...) "
                    "on another channel than the console, or use aethergraph.testing's "
                    "scripted channel in tests."
                ) from exc
            return reply_payload(opened.record, text, None)
        finally:
            reader.cancel()

    async def succeed(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """Record the run's outputs durably, then tell whoever awaits ``outcome()``."""
        record = self.record
        record.status = RunStatus.SUCCEEDED
        record.outputs = outputs
        record.finished_at = time.time()
        await self.storage.put_run(record)
        await self.storage.flush()
        if self._watchers:
            self.settle(outputs, None)
        return outputs

    async def fail(
        self,
        exc: BaseException,
        *,
        deadline: asyncio.Timeout | None = None,
        timeout_s: float | None = None,
        node_id: str | None = None,
    ) -> BaseException:
        """Record why the run ended; return the exception the caller should see.

        A cancellation by ``cancel_run`` becomes ``RunCancelledError`` (and the task is
        uncancelled: the run was cancelled, not its caller); the run's own ``deadline`` expiring
        becomes ``NodeTimeoutError``; anything else is the user's exception, unchanged, with a
        note naming ``node_id`` when given.
        """
        record = self.record
        raised = exc
        task = self.task
        if isinstance(exc, asyncio.CancelledError) and self.suspend_requested and task is not None:
            task.uncancel()
            record.status = RunStatus.WAITING
            raised = RunWaitingError(
                f"run {self.run_id} of graph {self.graph_id!r} waits for an answer; "
                "reply to it with aethergraph.runtime.reply(run_id, ...)"
            )
            await asyncio.shield(self._store_final())
            self.settle(None, raised)
            return raised
        if isinstance(exc, asyncio.CancelledError):
            record.status = RunStatus.CANCELLED
            if self.cancel_requested and task is not None and task.cancelling():
                task.uncancel()
                raised = RunCancelledError(
                    f"run {self.run_id} of graph {self.graph_id!r} was cancelled"
                )
        elif deadline is not None and deadline.expired():
            record.status = RunStatus.FAILED
            raised = NodeTimeoutError(
                f"run {self.run_id} of graph {self.graph_id!r} ran past its timeout_s={timeout_s}"
            )
        else:
            record.status = RunStatus.FAILED
            if node_id is not None:
                annotate(exc, self.run_id, self.graph_id, node_id)
        record.error = describe(raised)
        record.finished_at = time.time()
        await asyncio.shield(self._store_final())
        self.settle(None, raised)
        return raised

    async def _store_final(self) -> None:
        await self.storage.put_run(self.record)
        await self.storage.flush()
