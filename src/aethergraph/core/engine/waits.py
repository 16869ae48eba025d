"""The waits of a live run: a channel question opens one, the first answer closes it.

A wait is stored and registered before its question goes out, so an answer that comes back while
the channel is still delivering it finds the wait. Answers arrive from the adapter's own input
(the console), from ``reply()`` in this process (pushed), or from another process (stored, and
picked up by the run monitor).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aethergraph.errors import ChannelError, NodeTimeoutError
from aethergraph.services.console import choice_from_answer
from aethergraph.storage.records import RunStatus, WaitRecord, WaitStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aethergraph.core.engine.lifecycle import RunState

__all__ = ["OpenWait", "RunWaits", "reply_payload"]


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


class RunWaits:
    """The run's ``WaitHost``: opens waits, marks the run waiting, returns the first answer."""

    __slots__ = ("_asked", "open", "run")

    def __init__(self, run: RunState) -> None:
        self.run = run
        self.open: dict[str, OpenWait] = {}
        self._asked: dict[str, int] = {}

    def node_started(self, node_id: str) -> None:
        """Restart the numbering of a node's questions (they are matched to stored waits)."""
        self._asked.pop(node_id, None)

    def pending(self) -> OpenWait | None:
        """The first open wait that no reply has answered yet."""
        return next((w for w in self.open.values() if not w.answered), None)

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
        run = self.run
        storage = run.storage
        n = self._asked.get(record.node_id, 0) + 1
        self._asked[record.node_id] = n
        record.wait_id = f"{run.run_id}/{record.node_id}/{n}"
        stored = await storage.get_wait(record.wait_id)
        if stored is not None and stored.status is WaitStatus.ANSWERED and stored.reply:
            return stored.reply
        is_new = stored is None or stored.status is not WaitStatus.OPEN
        if not is_new and stored is not None:
            record = stored
            if record.deadline is not None:
                timeout_s = max(0.001, record.deadline - run.runtime.clock.time())
        else:
            await storage.put_wait(record)
            run.publish(
                "wait_opened",
                {
                    "wait_id": record.wait_id,
                    "node_id": record.node_id,
                    "kind": record.kind,
                    "prompt": record.prompt,
                    "options": record.options,
                },
            )
        opened = OpenWait(record, asyncio.get_running_loop())
        self.open[record.wait_id] = opened
        stopping = False
        try:
            await run.node_waits(record.node_id, True)  # stored by the transition's flush
            await run.transition(RunStatus.WAITING)
            if is_new:
                await announce(record)
            overdue = record.deadline is not None and record.deadline <= run.runtime.clock.time()
            if run.suspend_on_wait and run.task is not None and not overdue:
                # The wait is durable and announced: stop hosting the run; it stays waiting.
                # (One past its deadline is not left waiting again: it expires here, now.)
                run.suspend_requested = True
                run.task.cancel()
            async with run.runtime.clock.timeout(timeout_s):
                # Past its deadline, nobody is asked: it expires at once.
                payload = await self._first_answer(opened, None if overdue else local)
        except TimeoutError:
            record.status = WaitStatus.EXPIRED
            await storage.put_wait(record)
            raise NodeTimeoutError(
                f"{record.kind} {record.prompt!r} in run {run.run_id}, node {record.node_id!r} "
                f"got no reply within {timeout_s} s"
            ) from None
        except BaseException as exc:
            # The process stopping (Ctrl-C, the caller giving up) is not an answer: a durable
            # run stays waiting with its question open, as if the process had been killed.
            stopping = (
                isinstance(exc, asyncio.CancelledError) and run.durable and not run.cancel_requested
            )
            if record.status is WaitStatus.OPEN and not run.durable:
                record.status = WaitStatus.CANCELLED
                await asyncio.shield(storage.put_wait(record))
            raise
        finally:
            self.open.pop(record.wait_id, None)
            if not run.suspend_requested and not stopping:  # a run left waiting keeps its node
                await asyncio.shield(run.node_waits(record.node_id, False))
                if not self.open and run.record.status is RunStatus.WAITING:
                    await asyncio.shield(run.transition(RunStatus.RUNNING))
        record.status = WaitStatus.ANSWERED
        record.reply = payload
        await storage.put_wait(record)
        run.publish("wait_answered", {"wait_id": record.wait_id, "node_id": record.node_id})
        await storage.flush()
        return payload

    async def _first_answer(
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
                return await self._no_local_answer(opened, exc)
            return reply_payload(opened.record, text, None)
        finally:
            reader.cancel()

    async def _no_local_answer(self, opened: OpenWait, exc: EOFError) -> dict[str, Any]:
        run = self.run
        if run.durable:
            if run.runtime.owner_loop is None and run.task is not None:
                # Nobody in this process can answer (no input, no server): leave the run
                # waiting in the workspace for a reply from elsewhere.
                run.suspend_requested = True
                run.suspend_reason = (
                    f"{opened.record.kind} {opened.record.prompt!r} (node "
                    f"{opened.record.node_id!r}) needs an answer and standard input is at its end"
                )
                run.task.cancel()
            return await opened.future
        raise ChannelError(
            f"{opened.record.kind} {opened.record.prompt!r} in run {run.run_id}, node "
            f"{opened.record.node_id!r} needs an answer, but standard input is at its "
            "end (the process is not interactive). Run it in a terminal or pipe the "
            "answer in, answer from code with aethergraph.runtime.reply(run_id, text=...) "
            "on another channel than the console, or use aethergraph.testing's "
            "scripted channel in tests."
        ) from exc
