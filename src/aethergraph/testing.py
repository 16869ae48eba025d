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

from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.host import get_host
from aethergraph.core.engine.run import new_run_id, run_async
from aethergraph.core.engine.runs import cancel_run_async, reply_async
from aethergraph.errors import RunWaitingError
from aethergraph.services.channel import Message, _adapters, register_channel
from aethergraph.services.runtime.registry import override_context_service
from aethergraph.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

    from aethergraph.services.channel import ChannelAdapter
    from aethergraph.storage.records import WaitRecord

__all__ = [
    "MemoryStorage",
    "RunHandle",
    "ScriptedChannel",
    "memory_runtime",
    "override_context_service",
    "scripted_channel",
    "start_run",
]


@contextmanager
def memory_runtime() -> Iterator[MemoryStorage]:
    """Keep runs in memory (not in a workspace) until the block exits."""
    host = get_host()
    saved = host.snapshot()
    storage = MemoryStorage()
    host.configure(storage=storage)
    try:
        yield storage
    finally:
        host.restore(saved)
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
            while True:
                state = get_host().live.get(self.run_id)
                opened = state.pending_wait() if state is not None else None
                if opened is not None:
                    return opened.record
                if self._task.done():
                    error = self._task.exception()
                    if isinstance(error, RunWaitingError):
                        # The run was left waiting in the workspace; its wait is stored there.
                        stored = await list_waits_async(run_id=self.run_id, status="open")
                        if stored:
                            return stored[0]
                    raise RuntimeError(f"run {self.run_id} ended without waiting") from error
                await asyncio.sleep(0.005)

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
    """Start a run in the background of the current loop and return a handle to drive it."""
    run_id = opts.pop("run_id", None) or new_run_id()
    task = asyncio.ensure_future(run_async(target, inputs, run_id=run_id, **opts))
    while run_id not in get_host().live and not task.done():  # noqa: ASYNC110 - no event to await
        await asyncio.sleep(0)
    return RunHandle(run_id, task)


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
