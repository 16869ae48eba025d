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
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aethergraph.core.engine.host import get_host
from aethergraph.services.channel import Message, _adapters, register_channel
from aethergraph.services.runtime.registry import override_context_service
from aethergraph.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aethergraph.services.channel import ChannelAdapter
    from aethergraph.storage.records import WaitRecord

__all__ = [
    "MemoryStorage",
    "ScriptedChannel",
    "memory_runtime",
    "override_context_service",
    "scripted_channel",
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
        asyncio.run(storage.close()) if not _loop_running() else None


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
