"""SPEC section 3: service lifecycle — start once, fail clearly, close in reverse order, loops."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, Service, graph_fn, run, run_async
from aethergraph.errors import ServiceError
from aethergraph.runtime import RunStatus, close_services, get_run_async

if TYPE_CHECKING:
    from collections.abc import Callable


class Tracked(Service):
    """Records its lifecycle calls in a shared journal."""

    def __init__(self, name: str, journal: list[str], *, start_delay: float = 0.0) -> None:
        self.name = name
        self.journal = journal
        self.start_delay = start_delay
        self.starts = 0
        self.closes = 0

    async def start(self) -> None:
        self.starts += 1
        await asyncio.sleep(self.start_delay)
        self.journal.append(f"start {self.name}")

    async def close(self) -> None:
        self.closes += 1
        self.journal.append(f"close {self.name}")

    async def ping(self) -> str:
        return self.name


@graph_fn
async def uses_tracked(*, context: NodeContext) -> dict[str, Any]:
    return {"name": await context.tracked().ping()}


async def test_start_is_awaited_once_when_50_concurrent_runs_race_for_first_use(
    register: Callable[[str, object], object],
) -> None:
    journal: list[str] = []
    svc = register("tracked", Tracked("t", journal, start_delay=0.05))
    try:
        outs = await asyncio.gather(*(uses_tracked() for _ in range(50)))
        assert outs == [{"name": "t"}] * 50
        assert svc.starts == 1
        await uses_tracked()
        assert svc.starts == 1
    finally:
        await close_services()
    assert svc.closes == 1


async def test_start_happens_before_the_service_is_first_used(
    register: Callable[[str, object], object],
) -> None:
    journal: list[str] = []

    class Ordered(Tracked):
        async def ping(self) -> str:
            self.journal.append("ping")
            return self.name

    register("tracked", Ordered("t", journal, start_delay=0.01))
    try:
        await uses_tracked()
    finally:
        await close_services()
    assert journal == ["start t", "ping", "close t"]


async def test_a_failing_start_fails_the_run_with_an_error_naming_the_service(
    register: Callable[[str, object], object],
) -> None:
    cause = OSError("database unreachable")

    class Broken(Service):
        async def start(self) -> None:
            raise cause

    register("flaky_db", Broken())

    @graph_fn
    async def needs_db(*, context: NodeContext) -> None:
        context.flaky_db()

    with pytest.raises(ServiceError) as info:
        await run_async(needs_db, run_id="run-broken-start")
    assert "'flaky_db'" in str(info.value)
    assert "database unreachable" in str(info.value)
    assert info.value.__cause__ is cause
    record = await get_run_async("run-broken-start")
    assert record.status is RunStatus.FAILED
    assert "flaky_db" in (record.error or "")


async def test_a_failing_start_is_tried_again_by_the_next_run(
    register: Callable[[str, object], object],
) -> None:
    class FailsOnce(Tracked):
        async def start(self) -> None:
            await super().start()
            if self.starts == 1:
                raise ConnectionError("not yet")

    svc = register("tracked", FailsOnce("t", []))
    try:
        with pytest.raises(ServiceError, match="not yet"):
            await uses_tracked()
        assert await uses_tracked() == {"name": "t"}
        assert svc.starts == 2
    finally:
        await close_services()


async def test_close_services_closes_in_reverse_start_order_once_and_idempotently(
    register: Callable[[str, object], object],
) -> None:
    journal: list[str] = []
    services = [register(n, Tracked(n, journal)) for n in ("first", "second", "third")]
    await uses_nothing()
    assert journal == ["start first", "start second", "start third"]

    await close_services()
    assert journal[3:] == ["close third", "close second", "close first"]
    await close_services()
    assert [s.closes for s in services] == [1, 1, 1]


@graph_fn
async def uses_nothing() -> None:
    return None


async def test_a_failing_close_is_logged_and_the_others_still_close(
    register: Callable[[str, object], object], caplog: pytest.LogCaptureFixture
) -> None:
    journal: list[str] = []

    class BadClose(Tracked):
        async def close(self) -> None:
            await super().close()
            raise RuntimeError("socket already gone")

    first = register("first", Tracked("first", journal))
    middle = register("middle", BadClose("middle", journal))
    last = register("last", Tracked("last", journal))
    await uses_nothing()

    with caplog.at_level(logging.ERROR, logger="aethergraph"):
        await close_services()
    assert (first.closes, middle.closes, last.closes) == (1, 1, 1)
    assert journal[3:] == ["close last", "close middle", "close first"]
    failures = [r for r in caplog.records if "failed to close" in r.getMessage()]
    assert len(failures) == 1
    assert "middle" in failures[0].getMessage()
    assert failures[0].exc_info is not None


async def test_services_are_started_again_after_close_services(
    register: Callable[[str, object], object],
) -> None:
    svc = register("tracked", Tracked("t", []))
    await uses_tracked()
    await close_services()
    await uses_tracked()
    await close_services()
    assert (svc.starts, svc.closes) == (2, 2)


async def test_a_service_without_start_or_close_needs_no_lifecycle(
    register: Callable[[str, object], object],
) -> None:
    class Plain(Service):
        async def ping(self) -> str:
            return "plain"

    register("tracked", Plain())
    assert await uses_tracked() == {"name": "plain"}
    await close_services()


def test_sync_run_without_a_server_closes_what_it_started_before_returning(
    register: Callable[[str, object], object],
) -> None:
    journal: list[str] = []
    svc = register("tracked", Tracked("t", journal))
    assert run(uses_tracked) == {"name": "t"}
    assert (svc.starts, svc.closes) == (1, 1)
    assert journal == ["start t", "close t"]
    assert run(uses_tracked) == {"name": "t"}
    assert (svc.starts, svc.closes) == (2, 2)


def test_sync_run_closes_started_services_even_when_the_run_fails(
    register: Callable[[str, object], object],
) -> None:
    svc = register("tracked", Tracked("t", []))

    @graph_fn
    async def fails(*, context: NodeContext) -> None:
        await context.tracked().ping()
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        run(fails)
    assert (svc.starts, svc.closes) == (1, 1)


def test_an_override_with_start_is_started_and_closed_by_a_sync_run(
    register: Callable[[str, object], object],
) -> None:
    from aethergraph.runtime import override_context_service

    register("tracked", Tracked("real", []))
    fake = Tracked("fake", [])
    with override_context_service("tracked", fake):
        assert run(uses_tracked) == {"name": "fake"}
    assert (fake.starts, fake.closes) == (1, 1)


# -- one service, several event loops -----------------------------------------------------------


class LoopBound(Service):
    """Holds asyncio primitives made in start(), which bind to the loop that runs it."""

    def __init__(self) -> None:
        self.starts = 0
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def start(self) -> None:
        self.starts += 1
        self.gate = asyncio.Lock()
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    async def close(self) -> None:
        self.queue = None  # type: ignore[assignment]

    @Service.critical
    async def handle(self, i: int) -> int:
        self.loops.append(asyncio.get_running_loop())
        await self.queue.put(i)
        async with self.gate:
            await asyncio.sleep(0)
            return await self.queue.get()


@graph_fn
async def contends(*, context: NodeContext) -> dict[str, Any]:
    svc = context.loop_bound()
    got = await asyncio.gather(*(svc.handle(i) for i in range(10)))
    waiter = asyncio.ensure_future(svc.gate.acquire())
    async with asyncio.timeout(1):
        await waiter
    svc.gate.release()
    return {"got": sorted(got)}


def test_a_service_keeps_working_across_two_asyncio_run_calls(
    register: Callable[[str, object], object],
) -> None:
    svc = register("loop_bound", LoopBound())

    async def once() -> dict[str, Any]:
        return await run_async(contends)

    assert asyncio.run(once()) == {"got": list(range(10))}
    assert asyncio.run(once()) == {"got": list(range(10))}
    assert svc.starts == 2
    assert len(set(map(id, svc.loops))) == 2


def test_a_service_keeps_working_across_two_sync_runs(
    register: Callable[[str, object], object],
) -> None:
    svc = register("loop_bound", LoopBound())
    assert run(contends) == {"got": list(range(10))}
    assert run(contends) == {"got": list(range(10))}
    assert svc.starts == 2


def test_a_service_keeps_working_when_awaited_graph_fns_run_in_two_loops(
    register: Callable[[str, object], object],
) -> None:
    register("loop_bound", LoopBound())

    async def main() -> dict[str, Any]:
        try:
            return await contends()
        finally:
            await close_services()

    assert asyncio.run(main()) == {"got": list(range(10))}
    assert asyncio.run(main()) == {"got": list(range(10))}


def test_a_registered_service_shadowed_by_an_override_is_not_started(
    register: Callable[[str, object], object],
) -> None:
    from aethergraph.runtime import override_context_service

    class Unreachable(Tracked):
        async def start(self) -> None:
            await super().start()
            raise ConnectionError("the real cluster is not reachable from tests")

    real = register("tracked", Unreachable("real", []))
    fake = Tracked("fake", [])
    with override_context_service("tracked", fake):
        assert run(uses_tracked) == {"name": "fake"}
    assert real.starts == 0
    assert fake.starts == 1


async def test_a_replaced_service_that_was_started_is_still_closed(
    register: Callable[[str, object], object],
) -> None:
    journal: list[str] = []
    register("tracked", Tracked("old", journal))
    await uses_tracked()
    register("tracked", Tracked("new", journal))
    assert await uses_tracked() == {"name": "new"}
    await close_services()
    assert journal == ["start old", "start new", "close new", "close old"]


async def test_a_failing_start_fails_only_the_runs_that_use_the_service(
    register: Callable[[str, object], object], caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Service):
        async def start(self) -> None:
            raise OSError("license server down")

    register("solver", Broken())

    @graph_fn
    async def unrelated() -> dict[str, int]:
        return {"ok": 1}

    @graph_fn
    async def solves(*, context: NodeContext) -> None:
        context.solver()

    with caplog.at_level(logging.WARNING, logger="aethergraph"):
        assert await run_async(unrelated) == {"ok": 1}
    assert any("'solver'" in r.getMessage() for r in caplog.records)
    with pytest.raises(ServiceError, match="license server down"):
        await run_async(solves)
