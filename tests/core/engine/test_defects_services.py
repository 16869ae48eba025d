"""Issue 9, defects 14 and 15: a hanging start() or close() hangs nothing, and every service
that has a close() is closed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from aethergraph import Service, graph_fn, run, run_async
from aethergraph.errors import NodeTimeoutError, ServiceError
from aethergraph.runtime import RunStatus, list_runs_async

pytestmark = pytest.mark.usefixtures("backend")  # SQLite workspace and memory alike


class HangsOnStart(Service):
    """A service whose start() never returns."""

    def __init__(self, limit: float | None = None) -> None:
        super().__init__()
        if limit is not None:
            self.start_timeout_s = limit
        self.entered = asyncio.Event()

    async def start(self) -> None:
        self.entered.set()
        await asyncio.Event().wait()

    async def ping(self) -> str:
        return "pong"


class HangsOnClose(Service):
    """A service whose close() never returns."""

    close_timeout_s = 0.05

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await asyncio.Event().wait()


class ClosesOnly(Service):
    """A service with close() and no start()."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1

    async def ping(self) -> str:
        return "pong"


@graph_fn(name="plain")
async def plain() -> dict[str, int]:
    return {"ok": 1}


@graph_fn(name="pings")
async def pings(*, context: Any) -> dict[str, str]:
    return {"reply": await context.slow().ping()}


async def test_a_start_that_runs_past_its_limit_fails_only_the_runs_that_use_it(
    register: Any,
) -> None:
    register("slow", HangsOnStart(limit=0.05))
    assert await run_async(plain) == {"ok": 1}
    with pytest.raises(
        ServiceError, match=r"'slow'.*did not finish within 0.05 s.*start_timeout_s"
    ):
        await run_async(pings)


async def test_a_run_timeout_covers_the_services_it_waits_for(register: Any) -> None:
    register("slow", HangsOnStart())  # the default limit is far longer than the run's timeout
    with pytest.raises(NodeTimeoutError, match=r"timeout_s=0\.02"):
        await run_async(plain, timeout_s=0.02)
    (record,) = await list_runs_async()
    assert record.status is RunStatus.FAILED


def test_a_close_that_hangs_is_bounded_and_logged_naming_the_service(
    register: Any, caplog: pytest.LogCaptureFixture
) -> None:
    register("stuck", HangsOnClose())
    with caplog.at_level(logging.ERROR, logger="aethergraph"):
        assert run(plain) == {"ok": 1}
    assert any("'stuck' did not finish closing" in r.getMessage() for r in caplog.records)


def test_a_service_with_close_and_no_start_is_closed(register: Any) -> None:
    service = ClosesOnly()
    register("slow", service)
    assert run(pings) == {"reply": "pong"}
    assert service.closed == 1
