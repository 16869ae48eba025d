"""The public test kit: in-memory storage, a scripted channel, scoped service overrides.

Typical use::

    from aethergraph.testing import memory_runtime, scripted_channel

    def test_agent():
        with memory_runtime(), scripted_channel(["Approve"]) as chan:
            out = run(my_agent, {"x": 1})
        assert chan.prompts == ["Deploy?"]
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.clock import ManualClock
from aethergraph.core.engine.events import watch_run
from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.lifecycle import Taken, admit, execute
from aethergraph.core.engine.options import RunOptions, new_run_id
from aethergraph.core.engine.run import execution_of
from aethergraph.core.engine.runs import cancel_run_async, reply_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import RunWaitingError
from aethergraph.services.channel import Message, _adapters, register_channel
from aethergraph.services.llm import ScriptedLLM, scripted_llm
from aethergraph.services.runtime.registry import override_context_service
from aethergraph.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

    from aethergraph.core.engine.clock import Clock
    from aethergraph.services.channel import ChannelAdapter
    from aethergraph.storage.records import WaitRecord

__all__ = [
    "ManualClock",
    "MemoryStorage",
    "RunHandle",
    "ScriptedChannel",
    "ScriptedLLM",
    "memory_runtime",
    "override_context_service",
    "scripted_channel",
    "scripted_llm",
    "start_run",
]


@contextmanager
def memory_runtime(*, clock: Clock | None = None) -> Iterator[MemoryStorage]:
    """A scoped runtime keeping runs in memory until the block exits; yields its storage.

    Services, channels and graphs registered outside stay visible inside. With
    ``clock=ManualClock()``, timeouts and record times follow ``clock.advance()``.
    """
    storage = MemoryStorage(clock=clock.time) if clock is not None else MemoryStorage()
    with current_runtime().scoped(storage=storage, clock=clock):
        try:
            yield storage
        finally:
            storage.discard_files()


class RunHandle:
    """A run started in the background by ``start_run``: follow its waits, reply, get its result."""

    def __init__(self, run_id: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self.run_id = run_id
        self._task = task

    async def next_wait(self, *, timeout_s: float = 10.0) -> WaitRecord:
        """The run's next open wait that no reply has answered yet, once it has one.

        Raises:
            TimeoutError: when no wait opens within ``timeout_s``.
            RuntimeError: when the run ends without waiting (its error is chained).
        """
        async with asyncio.timeout(timeout_s):
            opened = self._pending()
            if opened is not None:
                return opened
            async for _event in watch_run(self.run_id):
                opened = self._pending()
                if opened is not None:
                    return opened
            await asyncio.wait({self._task})
            error = self._task.exception()
            if isinstance(error, RunWaitingError):
                # The run was left waiting in the workspace; its wait is stored there.
                stored = await list_waits_async(run_id=self.run_id, status="open")
                if stored:
                    return stored[0]
            raise RuntimeError(f"run {self.run_id} ended without waiting") from error

    def _pending(self) -> WaitRecord | None:
        state = current_runtime().live.get(self.run_id)
        opened = state.waits.pending() if state is not None else None
        return opened.record if opened is not None else None

    async def reply(self, *, text: str | None = None, choice: str | None = None) -> None:
        """Answer the open wait (as ``aethergraph.runtime.reply_async`` does)."""
        await reply_async(self.run_id, text=text, choice=choice)

    async def result(self, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """The run's outputs once it finishes (or what it raised)."""
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(self._task)

    async def cancel(self) -> None:
        """Cancel the run and wait until it has stopped."""
        await cancel_run_async(self.run_id)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._task


async def start_run(target: Any, inputs: Mapping[str, Any] | None = None, **opts: Any) -> RunHandle:
    """Start a run in the background of the current loop and return a handle to drive it.

    The run is recorded (and live) when this returns.
    """
    runtime = current_runtime()
    options = RunOptions({**opts, "run_id": opts.get("run_id") or new_run_id()})
    admitted = await admit(runtime, execution_of(target), inputs or {}, options)
    work = admitted.result() if isinstance(admitted, Taken) else execute(admitted)
    assert options.run_id is not None
    return RunHandle(options.run_id, asyncio.ensure_future(work))


class ScriptedChannel:
    """A channel that answers questions from a list of replies and records what was sent.

    When the replies run out, questions stay open until ``reply()`` answers them.
    """

    def __init__(self, replies: Iterable[str] = ()) -> None:
        self.replies: deque[str] = deque(replies)
        self.sent: list[Message] = []

    @property
    def texts(self) -> list[str]:
        """Texts of the plain messages sent."""
        return [m.text for m in self.sent if m.kind == "text"]

    @property
    def prompts(self) -> list[str]:
        """Prompts of the questions asked."""
        return [m.text for m in self.sent if m.kind == "prompt"]

    async def send(self, message: Message) -> None:
        """Record the message."""
        self.sent.append(message)

    def answer_source(self) -> Callable[[WaitRecord], Awaitable[str]] | None:
        """The next scripted reply, if any are left."""
        if not self.replies:
            return None

        async def next_reply(_wait: WaitRecord) -> str:
            return self.replies.popleft()

        return next_reply


@contextmanager
def scripted_channel(
    replies: Iterable[str] = (), *, key: str = "console"
) -> Iterator[ScriptedChannel]:
    """Replace channel ``key`` (the console by default) with a ``ScriptedChannel`` in the block."""
    channel = ScriptedChannel(replies)
    previous: ChannelAdapter | None = _adapters.get(key)
    register_channel(key, channel)
    try:
        yield channel
    finally:
        if previous is None:
            _adapters.pop(key, None)
        else:
            _adapters[key] = previous
