"""SPEC sections 2 and 6: the sidecar server owns the services' event loop while it runs."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from aethergraph import (
    NodeContext,
    Service,
    graph_fn,
    run,
    run_async,
    start_server,
    start_server_async,
    stop_server,
    stop_server_async,
)
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ServerError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class LoopProbe(Service):
    """Remembers the loop and thread each call ran on, and its lifecycle."""

    def __init__(self) -> None:
        self.calls: list[tuple[asyncio.AbstractEventLoop, int, str]] = []
        self.starts = 0
        self.closes = 0

    async def start(self) -> None:
        self.starts += 1
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        self.closes += 1

    @Service.critical
    async def where(self) -> str:
        async with self.lock:
            thread = threading.current_thread()
            self.calls.append((asyncio.get_running_loop(), thread.ident or 0, thread.name))
            return thread.name


@graph_fn
async def probe_loop(*, context: NodeContext) -> dict[str, Any]:
    return {"thread": await context.loop_probe().where()}


@pytest.fixture
def server() -> Iterator[str]:
    url = start_server(port=0)
    try:
        yield url
    finally:
        stop_server()


def test_start_server_returns_a_url_whose_health_answers(server: str) -> None:
    assert server.startswith("http://127.0.0.1:")
    response = httpx.get(f"{server}/api/v1/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_lists_registered_services(
    server: str, register: Callable[[str, object], object]
) -> None:
    register("loop_probe", LoopProbe())
    body = httpx.get(f"{server}/api/v1/health", timeout=10).json()
    assert {"name": "loop_probe", "type": "LoopProbe", "started": False} in body["services"]


def test_runs_started_while_the_server_is_up_execute_on_the_servers_loop(
    server: str, register: Callable[[str, object], object]
) -> None:
    probe = register("loop_probe", LoopProbe())
    first = run(probe_loop)
    second = run(probe_loop)

    assert first == second == {"thread": "aethergraph-server"}
    (loop_a, thread_a, _), (loop_b, thread_b, _) = probe.calls
    assert loop_a is loop_b
    assert thread_a == thread_b != threading.get_ident()
    assert current_runtime().owner_loop is loop_a
    # Under a server, a sync run leaves services started for the next run.
    assert (probe.starts, probe.closes) == (1, 0)


def test_run_async_from_another_loop_is_dispatched_to_the_servers_loop(
    server: str, register: Callable[[str, object], object]
) -> None:
    probe = register("loop_probe", LoopProbe())

    async def from_another_loop() -> dict[str, Any]:
        return await run_async(probe_loop)

    assert asyncio.run(from_another_loop()) == {"thread": "aethergraph-server"}
    assert asyncio.run(from_another_loop()) == {"thread": "aethergraph-server"}
    assert probe.starts == 1
    assert len({id(loop) for loop, _, _ in probe.calls}) == 1


def test_a_service_registered_after_the_server_started_is_used_by_later_runs(
    server: str, register: Callable[[str, object], object]
) -> None:
    probe = register("loop_probe", LoopProbe())
    run(probe_loop)
    replacement = register("loop_probe", LoopProbe())
    run(probe_loop)
    assert len(probe.calls) == 1
    assert len(replacement.calls) == 1


def test_stop_server_closes_started_services(register: Callable[[str, object], object]) -> None:
    probe = register("loop_probe", LoopProbe())
    start_server(port=0)
    try:
        run(probe_loop)
        assert probe.closes == 0
    finally:
        stop_server()
    assert (probe.starts, probe.closes) == (1, 1)
    assert current_runtime().owner_loop is None


def test_stop_server_without_a_server_does_nothing() -> None:
    stop_server()
    stop_server()


def test_a_second_start_while_one_runs_is_a_server_error(server: str) -> None:
    with pytest.raises(ServerError, match="already running"):
        start_server(port=0)


def test_after_stop_server_runs_execute_in_the_caller_again(
    register: Callable[[str, object], object],
) -> None:
    probe = register("loop_probe", LoopProbe())
    start_server(port=0)
    stop_server()
    assert run(probe_loop) == {"thread": threading.current_thread().name}
    assert (probe.starts, probe.closes) == (1, 1)


def test_binding_beyond_loopback_without_a_token_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="token"):
        start_server(host="0.0.0.0", port=0)
    # Nothing was left running: a loopback server still starts.
    url = start_server(port=0)
    stop_server()
    assert url


def test_a_busy_port_is_a_server_error_suggesting_port_0() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(ServerError, match="port=0"):
            start_server(port=taken.getsockname()[1])


def test_a_token_guards_the_api_when_given() -> None:
    url = start_server(port=0, token="s3cret")
    try:
        assert httpx.get(f"{url}/api/v1/health", timeout=10).status_code == 401
        authorised = httpx.get(
            f"{url}/api/v1/health", headers={"Authorization": "Bearer s3cret"}, timeout=10
        )
        assert authorised.status_code == 200
    finally:
        stop_server()


async def test_start_server_async_serves_on_the_callers_loop(
    register: Callable[[str, object], object],
) -> None:
    probe = register("loop_probe", LoopProbe())
    url = await start_server_async(port=0)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{url}/api/v1/health", timeout=10)
        assert response.status_code == 200
        assert await run_async(probe_loop) == {"thread": threading.current_thread().name}
        assert probe.calls[0][0] is asyncio.get_running_loop()
    finally:
        await stop_server_async()
    assert probe.closes == 1
    assert current_runtime().owner_loop is None
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{url}/api/v1/health", timeout=2)


def test_an_override_is_seen_by_runs_dispatched_to_the_servers_loop(
    server: str, register: Callable[[str, object], object]
) -> None:
    from aethergraph.runtime import override_context_service

    real = register("loop_probe", LoopProbe())
    fake = LoopProbe()
    with override_context_service("loop_probe", fake):
        assert run(probe_loop) == {"thread": "aethergraph-server"}

        async def from_another_loop() -> dict[str, Any]:
            return await run_async(probe_loop)

        assert asyncio.run(from_another_loop()) == {"thread": "aethergraph-server"}
    assert len(fake.calls) == 2
    assert real.calls == []
    run(probe_loop)
    assert len(real.calls) == 1


def test_health_shows_a_service_started_once_a_run_used_it(
    server: str, register: Callable[[str, object], object]
) -> None:
    register("loop_probe", LoopProbe())
    run(probe_loop)
    body = httpx.get(f"{server}/api/v1/health", timeout=10).json()
    assert {"name": "loop_probe", "type": "LoopProbe", "started": True} in body["services"]


def test_a_user_exception_under_the_server_is_reraised_unchanged(server: str) -> None:
    error = LookupError("not on this shelf")

    @graph_fn
    async def fails_on_server() -> None:
        raise error

    with pytest.raises(LookupError) as info:
        run(fails_on_server, run_id="run-server-boom")
    assert info.value is error
    assert "run-server-boom" in info.value.__notes__[0]
