"""Runs dispatched through RayExecutor to async worker actors, with state in PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import importlib
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import graph_fn, run_async
from aethergraph.errors import ConfigurationError, RunCancelledError, RunError
from aethergraph.runtime import (
    RunStatus,
    cancel_run_async,
    get_run_async,
    list_run_events_async,
    list_runs_async,
    submit_run_async,
    watch_run,
)
from tests.ray import graphs

if TYPE_CHECKING:
    from pathlib import Path

    from aethergraph.core.engine.executors.ray import RayExecutor

pytestmark = pytest.mark.timeout(120)

LOOPBACK = ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


async def test_200_runs_spread_over_two_workers_and_are_recorded_in_postgres(
    on_ray: RayExecutor,
) -> None:
    outputs = await asyncio.gather(*(run_async(graphs.echo, {"i": i}) for i in range(200)))
    assert [o["i"] for o in outputs] == list(range(200))
    assert len({o["pid"] for o in outputs}) == 2
    records = await list_runs_async(graph_id="ray_echo", limit=1000)
    assert len(records) >= 200
    workers = {slot.owner for slot in on_ray._slots if slot.alive}
    assert {r.owner for r in records[:200]} <= workers
    assert {r.status for r in records[:200]} == {RunStatus.SUCCEEDED}


async def test_a_worker_killed_mid_task_graph_resumes_it_on_another_from_checkpoints(
    on_ray: RayExecutor, ray_cluster: Any, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.txt"
    work = asyncio.ensure_future(run_async(graphs.chain, {"folder": str(tmp_path)}))
    async with asyncio.timeout(60):
        while not (tmp_path / "blocked").exists():  # noqa: ASYNC110 - written by a worker
            await asyncio.sleep(0.01)
    (record,) = [r for r in await list_runs_async(graph_id="ray_chain") if r.status == "running"]
    (victim,) = [s for s in on_ray._slots if s.alive and s.owner == record.owner]
    ray_cluster.kill(victim.actor, no_restart=True)
    assert await asyncio.wait_for(work, 60) == {"value": sum(range(20))}
    runs = collections.Counter(int(line.split()[0]) for line in ran.read_text().splitlines())
    assert runs == {n: 2 if n == 10 else 1 for n in range(20)}
    pids = {line.split()[1] for line in ran.read_text().splitlines()}
    assert len(pids) == 2  # nodes after the kill ran on the other worker
    stored = await get_run_async(record.run_id)
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.owner != victim.owner


async def test_cancel_reaches_the_worker_running_the_run(on_ray: RayExecutor) -> None:
    work = asyncio.ensure_future(run_async(graphs.block))
    async with asyncio.timeout(30):
        while True:
            live = await list_runs_async(graph_id="ray_block", status="running")
            if live and live[0].owner in {s.owner for s in on_ray._slots}:
                break
            await asyncio.sleep(0.01)
    await cancel_run_async(live[0].run_id)
    with pytest.raises(RunCancelledError):
        await asyncio.wait_for(work, 10)
    assert (await get_run_async(live[0].run_id)).status is RunStatus.CANCELLED


@graph_fn(name="ray_in_main")
async def in_main() -> dict[str, Any]:
    return {}


async def test_a_graph_defined_in_main_is_refused_with_what_to_do(on_ray: RayExecutor) -> None:
    in_main.fn.__module__ = "__main__"  # as if defined in a script run with python
    with pytest.raises(ConfigurationError, match=r"__main__.*move it into a module.*py_modules"):
        await run_async(in_main)
    (record,) = await list_runs_async(graph_id="ray_in_main")
    assert record.status is RunStatus.FAILED


def test_every_ray_socket_stays_on_loopback(ray_cluster: Any) -> None:
    lines = subprocess.run(
        ["ss", "-tanpH"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.splitlines()
    ray_lines = [
        line for line in lines if any(p in line for p in ('"raylet"', '"gcs_server"', '"ray::'))
    ]
    assert ray_lines, "no socket of a Ray process found"
    for line in ray_lines:
        state, local, peer = line.split()[0], *line.split()[3:5]
        addresses = [local] if state == "LISTEN" else [local, peer]
        for address in addresses:
            assert address.rsplit(":", 1)[0] in LOOPBACK, line


def test_an_unknown_executor_name_is_refused_with_the_known_ones() -> None:
    from aethergraph.core.engine.runtime import current_runtime
    from aethergraph.runtime import configure

    with (
        current_runtime().scoped(),
        pytest.raises(ConfigurationError, match=r"unknown executor 'spark'; use 'in_process'"),
    ):
        configure(executor="spark")


async def test_a_graph_fn_run_whose_worker_dies_is_marked_interrupted_saying_so(
    on_ray: RayExecutor, ray_cluster: Any
) -> None:
    work = asyncio.ensure_future(run_async(graphs.block))
    async with asyncio.timeout(30):
        while True:
            live = await list_runs_async(graph_id="ray_block", status="running")
            hosts = [s for s in on_ray._slots if s.alive and live and s.owner == live[0].owner]
            if hosts:
                break
            await asyncio.sleep(0.01)
    ray_cluster.kill(hosts[0].actor, no_restart=True)
    with pytest.raises(RunError, match=r"was interrupted: its Ray worker died.*run_id="):
        await asyncio.wait_for(work, 30)
    assert (await get_run_async(live[0].run_id)).status is RunStatus.INTERRUPTED
    assert len(on_ray.workers) == 2  # the dead worker was replaced


async def test_a_run_whose_worker_dies_before_writing_it_is_still_recorded_interrupted(
    on_ray: RayExecutor,
) -> None:
    # A fresh run reaches its worker unwritten (the worker writes it with its first write);
    # the dispatcher stores it again when the worker is gone before that.
    await run_async(graphs.echo, {"i": 0})  # the workers are up: the run is handed at once
    with pytest.raises(RunError, match=r"was interrupted: its Ray worker died") as raised:
        await run_async(graphs.dies_at_once)
    run_id = str(raised.value).split()[1]
    stored = await get_run_async(run_id)
    assert (stored.graph_id, stored.status) == ("ray_dies_at_once", RunStatus.INTERRUPTED)
    assert len(on_ray.workers) == 2  # the dead worker was replaced


async def test_the_ray_executor_needs_postgresql_and_says_how_to_set_it(
    ray_cluster: Any, tmp_path: Path
) -> None:
    from aethergraph.core.engine.executors.ray import RayExecutor
    from aethergraph.core.engine.runtime import current_runtime

    with current_runtime().scoped(workspace=tmp_path) as runtime:
        runtime.configure(executor=RayExecutor(num_workers=1))
        with pytest.raises(ConfigurationError, match=r"AETHERGRAPH_DATABASE_URL=postgresql://"):
            await run_async(graphs.echo, {"i": 1})
        await runtime.storage().close()


@pytest.mark.parametrize("started", [True, False], ids=["started", "just sent"])
async def test_a_caller_giving_up_stops_the_run_on_its_worker_and_leaves_it_interrupted(
    on_ray: RayExecutor, started: bool
) -> None:
    await run_async(graphs.echo, {"i": 0})  # the workers are up: the run is handed at once
    work = asyncio.ensure_future(run_async(graphs.block))
    async with asyncio.timeout(30):
        while True:
            await asyncio.sleep(0 if not started else 0.01)
            if not started and any(s.inflight for s in on_ray._slots):
                break  # just sent: its worker may not have it, or not have written it yet
            live = await list_runs_async(graph_id="ray_block", status="running")
            handed = live and live[0].owner in {s.owner for s in on_ray._slots}
            if handed and await list_run_events_async(live[0].run_id):
                break
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    (record,) = await list_runs_async(graph_id="ray_block", limit=1)  # the newest: this one
    async with asyncio.timeout(10):
        statuses = [
            e.data["status"] async for e in watch_run(record.run_id) if e.type == "run_status"
        ]
    assert statuses[-1] == "interrupted"
    assert (await get_run_async(record.run_id)).status is RunStatus.INTERRUPTED


async def test_a_graph_in_a_module_the_workers_cannot_import_fails_saying_what_to_do(
    on_ray: RayExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"ag_only_here_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "from aethergraph import graph_fn\n\n\n"
        f"@graph_fn(name={name!r})\n"
        "async def only_here() -> dict:\n"
        "    return {}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not on the workers
    module = importlib.import_module(name)
    try:
        with pytest.raises(
            ConfigurationError,
            match=rf"a Ray worker cannot import module '{name}'.*PYTHONPATH.*py_modules",
        ):
            await run_async(module.only_here)
        (record,) = await list_runs_async(graph_id=name)
        assert record.status is RunStatus.FAILED
        assert "cannot import module" in str(record.error)
    finally:
        sys.modules.pop(name, None)


async def test_a_run_just_sent_to_its_worker_reads_as_running_in_the_dispatching_process(
    on_ray: RayExecutor,
) -> None:
    await run_async(graphs.echo, {"i": 0})  # the workers are up: the run is handed at once
    run_id = await submit_run_async(graphs.block)  # stored here, with this process as owner
    seen = []
    async with asyncio.timeout(30):
        while not any(s.inflight for s in on_ray._slots):  # noqa: ASYNC110 - the dispatch
            await asyncio.sleep(0)
        # Until its worker writes it, the stored record names this process, which no longer
        # hosts the run but answers for it: a reader here does not take it for an orphan.
        for _ in range(20):
            seen.append((await get_run_async(run_id)).status)
    assert set(seen) == {RunStatus.RUNNING}
    assert await cancel_run_async(run_id) is RunStatus.CANCELLED
