"""One loop owns the services: sync calls from worker threads join it, answers never get lost."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aethergraph import Service, graph_fn, register_context_service, run, run_async
from aethergraph.runtime import reply_async, unregister_context_service
from aethergraph.services.channel import Message, _adapters, register_channel
from aethergraph.testing import memory_runtime, start_run


class Pool(Service):
    """Counts starts and closes and remembers the loops it was used on."""

    def __init__(self) -> None:
        self.starts = 0
        self.closes = 0
        self.loops: list[int] = []

    async def start(self) -> None:
        self.starts += 1

    async def close(self) -> None:
        self.closes += 1

    async def use(self) -> int:
        self.loops.append(id(asyncio.get_running_loop()))
        return self.starts


@graph_fn(name="uses_pool")
async def uses_pool(*, context: Any) -> dict[str, int]:
    return {"starts": await context.pool().use()}


@graph_fn(name="runs_sync_inside_worker")
async def runs_sync_inside_worker(*, context: Any) -> dict[str, int]:
    inner = await context.pool().run_blocking(run, uses_pool)
    # The outer run still has its service open after the inner sync run returned.
    after = await context.pool().use()
    return {"inner": inner["starts"], "after": after}


def test_sync_run_from_a_worker_thread_joins_the_loop_that_owns_the_services() -> None:
    pool = Pool()
    register_context_service("pool", pool)
    try:
        with memory_runtime():
            out = run(runs_sync_inside_worker)
    finally:
        unregister_context_service("pool")
    assert out == {"inner": 1, "after": 1}
    assert pool.starts == 1
    assert pool.closes == 1  # closed once, when the outer sync run() returned
    assert len(set(pool.loops)) == 1


class SlowChannel:
    """A channel whose delivery takes a while, so a reply can overtake the prompt."""

    def __init__(self) -> None:
        self.delivering = asyncio.Event()
        self.delivered = asyncio.Event()  # the test lets delivery finish after it has replied

    async def send(self, message: Message) -> None:
        if message.kind == "prompt":
            self.delivering.set()
            await self.delivered.wait()

    def answer_source(self) -> None:
        return None


@graph_fn(name="asks_on_slow_channel")
async def asks_on_slow_channel(*, context: Any) -> dict[str, Any]:
    return {"answer": await context.channel("slow").ask_text("name?")}


async def test_a_reply_that_overtakes_the_prompt_delivery_answers_the_wait() -> None:
    channel = SlowChannel()
    register_channel("slow", channel)
    try:
        with memory_runtime():
            handle = await start_run(asks_on_slow_channel)
            await asyncio.wait_for(channel.delivering.wait(), 5)
            await reply_async(handle.run_id, text="Ada")
            channel.delivered.set()
            assert await handle.result(timeout_s=5) == {"answer": "Ada"}
    finally:
        _adapters.pop("slow", None)


def test_sync_reply_from_another_thread_reaches_a_live_run() -> None:
    from aethergraph.runtime import reply

    channel = SlowChannel()
    register_channel("slow", channel)

    async def main() -> dict[str, Any]:
        handle = await start_run(asks_on_slow_channel)
        await handle.next_wait()
        replier = threading.Thread(target=reply, args=(handle.run_id,), kwargs={"text": "Bo"})
        replier.start()
        await asyncio.to_thread(replier.join, 5)
        channel.delivered.set()
        return await handle.result(timeout_s=5)

    try:
        with memory_runtime():
            assert asyncio.run(main()) == {"answer": "Bo"}
    finally:
        _adapters.pop("slow", None)


async def test_run_async_result_is_unaffected_by_loop_routing() -> None:
    with memory_runtime():
        pool = Pool()
        register_context_service("pool", pool)
        try:
            assert await run_async(uses_pool) == {"starts": 1}
        finally:
            unregister_context_service("pool")
