"""SPEC section 3: the Service base class — ctx(), critical, run_blocking, AsyncRWLock."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, Service, graph_fn, run, tool
from aethergraph.services.runtime.base import AsyncRWLock, BaseContextService

if TYPE_CHECKING:
    from collections.abc import Callable


# -- ctx() --------------------------------------------------------------------------------------


class Recorder(Service):
    """Reports who is calling, before and after yielding to other tasks."""

    async def who(self) -> tuple[str, str, str, str]:
        before = self.ctx()
        await asyncio.sleep(0)  # let the other runs interleave
        after = self.ctx()
        return before.run_id, before.node_id, after.run_id, after.node_id

    async def who_in_thread(self) -> tuple[str, str, str]:
        def blocking() -> tuple[str, str, str]:
            ctx = self.ctx()
            return ctx.run_id, ctx.node_id, threading.current_thread().name

        return await self.run_blocking(blocking)


@tool(outputs=["seen", "seen_in_thread", "run_id", "node_id"])
async def probe(*, context: NodeContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {
        "seen": await context.recorder().who(),
        "seen_in_thread": await context.recorder().who_in_thread(),
        "run_id": context.run_id,
        "node_id": context.node_id,
    }


@graph_fn
async def observed(i: int, *, context: NodeContext) -> dict[str, Any]:
    root = await context.recorder().who()
    child = await probe()
    return {"i": i, "run_id": context.run_id, "root": root, "child": child}


async def test_ctx_sees_the_calling_node_under_200_concurrent_runs(
    register: Callable[[str, object], object],
) -> None:
    register("recorder", Recorder())
    outs = await asyncio.gather(*(observed(i=i) for i in range(200)))

    assert [o["i"] for o in outs] == list(range(200))
    assert len({o["run_id"] for o in outs}) == 200
    for out in outs:
        run_id = out["run_id"]
        assert list(out["root"]) == [run_id, "root", run_id, "root"]
        child = out["child"]
        assert child["run_id"] == run_id
        node_id = child["node_id"]
        assert node_id != "root"
        assert list(child["seen"]) == [run_id, node_id, run_id, node_id]
        assert list(child["seen_in_thread"][:2]) == [run_id, node_id]


async def test_ctx_inside_run_blocking_runs_in_a_worker_thread(
    register: Callable[[str, object], object],
) -> None:
    register("recorder", Recorder())
    out = await observed(i=0)
    thread_name = out["child"]["seen_in_thread"][2]
    assert thread_name != threading.current_thread().name


def test_ctx_outside_a_node_is_a_runtime_error_saying_why() -> None:
    with pytest.raises(RuntimeError, match="outside a node"):
        Recorder().ctx()


async def test_ctx_in_a_plain_task_outside_any_run_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"Recorder\.ctx\(\)"):
        await Recorder().who()


def test_ctx_gives_access_to_the_nodes_other_services(
    register: Callable[[str, object], object],
) -> None:
    class Noter(Service):
        async def note(self, text: str) -> str:
            ctx = self.ctx()
            event = await ctx.memory().record("note", {"text": text})
            return event.node_id or ""

    register("noter", Noter())

    @tool(outputs=["node_id", "noted_by"])
    async def noting(*, context: NodeContext) -> dict[str, Any]:
        return {"node_id": context.node_id, "noted_by": await context.noter().note("hi")}

    @graph_fn
    async def noting_graph() -> dict[str, Any]:
        return await noting()

    out = run(noting_graph)
    assert out["noted_by"] == out["node_id"]


# -- critical -----------------------------------------------------------------------------------


class Guarded(Service):
    """Counts how many callers are inside each critical section at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.max_inside = 0
        self.instance_form = self.critical()(self._enter)

    async def _enter(self) -> None:
        self.inside += 1
        self.max_inside = max(self.max_inside, self.inside)
        await asyncio.sleep(0.001)
        self.inside -= 1

    @Service.critical
    async def bare_form(self) -> None:
        await self._enter()

    @Service.critical()
    async def called_form(self) -> None:
        await self._enter()

    @Service.critical
    def sync_method(self, x: int) -> int:
        return x * 2


@pytest.mark.parametrize("form", ["instance_form", "bare_form", "called_form"])
async def test_critical_serialises_callers_in_each_form(form: str) -> None:
    svc = Guarded()
    await asyncio.gather(*(getattr(svc, form)() for _ in range(20)))
    assert svc.max_inside == 1


async def test_all_critical_methods_of_one_instance_share_its_lock() -> None:
    svc = Guarded()
    calls = [svc.instance_form, svc.bare_form, svc.called_form] * 5
    await asyncio.gather(*(call() for call in calls))
    assert svc.max_inside == 1


async def test_without_critical_the_same_calls_overlap() -> None:
    svc = Guarded()
    await asyncio.gather(*(svc._enter() for _ in range(20)))
    assert svc.max_inside > 1


async def test_two_instances_never_share_a_lock() -> None:
    release = asyncio.Event()

    class Holder(Service):
        @Service.critical
        async def hold(self) -> None:
            await release.wait()

        @Service.critical
        async def quick(self) -> str:
            return "done"

    a, b = Holder(), Holder()
    holding = asyncio.ensure_future(a.hold())
    await asyncio.sleep(0.01)
    assert a._lock.locked()
    assert not b._lock.locked()
    async with asyncio.timeout(2):
        assert await b.quick() == "done"
    release.set()
    await holding


async def test_a_sync_method_wrapped_by_critical_becomes_awaitable() -> None:
    svc = Guarded()
    assert inspect.iscoroutinefunction(Guarded.sync_method)
    assert await svc.sync_method(21) == 42


async def test_critical_keeps_the_wrapped_methods_name_and_doc() -> None:
    assert Guarded.bare_form.__name__ == "bare_form"


async def test_critical_on_a_method_of_a_non_service_is_a_type_error() -> None:
    class NotAService:
        @Service.critical
        async def m(self) -> None:
            return None

    with pytest.raises(TypeError, match="Service subclass"):
        await NotAService().m()


def test_critical_works_in_one_asyncio_run_and_again_in_another() -> None:
    svc = Guarded()

    async def contend() -> int:
        await asyncio.gather(*(svc.bare_form() for _ in range(10)))
        return svc.max_inside

    assert asyncio.run(contend()) == 1
    assert asyncio.run(contend()) == 1


def test_base_context_service_is_service() -> None:
    assert BaseContextService is Service


# -- run_blocking -------------------------------------------------------------------------------


async def test_run_blocking_runs_fn_in_a_worker_thread_with_args() -> None:
    main = threading.get_ident()

    def work(a: int, *, b: int) -> tuple[int, int]:
        return a + b, threading.get_ident()

    total, ident = await Service().run_blocking(work, 1, b=2)
    assert total == 3
    assert ident != main


# -- AsyncRWLock --------------------------------------------------------------------------------


async def test_rwlock_lets_readers_in_together() -> None:
    lock = AsyncRWLock()
    inside = 0
    max_inside = 0
    both_in = asyncio.Event()

    async def reader() -> None:
        nonlocal inside, max_inside
        async with lock.read():
            inside += 1
            max_inside = max(max_inside, inside)
            if inside == 2:
                both_in.set()
            await both_in.wait()
            inside -= 1

    async with asyncio.timeout(2):
        await asyncio.gather(reader(), reader())
    assert max_inside == 2


async def test_rwlock_writer_is_exclusive() -> None:
    lock = AsyncRWLock()
    log: list[str] = []
    readers = 0
    writers = 0
    violations: list[str] = []

    async def reader(i: int) -> None:
        nonlocal readers
        async with lock.read():
            readers += 1
            if writers:
                violations.append(f"reader {i} with a writer")
            await asyncio.sleep(0.001)
            readers -= 1
            log.append(f"r{i}")

    async def writer(i: int) -> None:
        nonlocal writers
        async with lock.write():
            writers += 1
            if writers > 1 or readers:
                violations.append(f"writer {i} not alone")
            await asyncio.sleep(0.001)
            writers -= 1
            log.append(f"w{i}")

    tasks = [reader(i) if i % 3 else writer(i) for i in range(30)]
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    assert violations == []
    assert len(log) == 30


async def test_rwlock_writer_waits_for_the_reader_holding_it() -> None:
    lock = AsyncRWLock()
    reading = asyncio.Event()
    finish_reading = asyncio.Event()
    order: list[str] = []

    async def reader() -> None:
        async with lock.read():
            reading.set()
            await finish_reading.wait()
            order.append("reader done")

    async def writer() -> None:
        await reading.wait()
        async with lock.write():
            order.append("writer in")

    r = asyncio.ensure_future(reader())
    w = asyncio.ensure_future(writer())
    await asyncio.sleep(0.01)
    assert order == []
    finish_reading.set()
    async with asyncio.timeout(2):
        await asyncio.gather(r, w)
    assert order == ["reader done", "writer in"]


async def test_rwlock_waiting_writer_goes_before_later_readers() -> None:
    lock = AsyncRWLock()
    first_in = asyncio.Event()
    release_first = asyncio.Event()
    order: list[str] = []

    async def first_reader() -> None:
        async with lock.read():
            first_in.set()
            await release_first.wait()

    async def writer() -> None:
        async with lock.write():
            order.append("writer")

    async def late_reader() -> None:
        async with lock.read():
            order.append("late reader")

    first = asyncio.ensure_future(first_reader())
    await first_in.wait()
    w = asyncio.ensure_future(writer())
    await asyncio.sleep(0.01)
    late = asyncio.ensure_future(late_reader())
    await asyncio.sleep(0.01)
    assert order == []
    release_first.set()
    async with asyncio.timeout(2):
        await asyncio.gather(first, w, late)
    assert order == ["writer", "late reader"]


def test_rwlock_works_across_asyncio_run_calls() -> None:
    lock = AsyncRWLock()

    async def use() -> str:
        async with lock.write():
            pass
        async with lock.read():
            return "ok"

    assert asyncio.run(use()) == "ok"
    assert asyncio.run(use()) == "ok"
