"""Waits at scale: a run waiting for a human frees its Ray worker slot; a reply resumes it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import run_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import RunCancelledError
from aethergraph.runtime import (
    RunStatus,
    cancel_run_async,
    get_run_async,
    list_run_events_async,
    list_runs_async,
    list_waits_async,
    reply_async,
)
from aethergraph.storage.records import WaitStatus
from tests.ray import graphs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aethergraph.core.engine.executors.ray import RayExecutor

pytestmark = pytest.mark.timeout(120)

PEER = Path(__file__).parents[1] / "storage" / "programs" / "postgres_peer.py"


@pytest.fixture
async def one_slot(ray_cluster: Any, ray_database_url: str) -> AsyncIterator[RayExecutor]:
    """A Ray executor of one worker that runs one run at a time, for this test's runs."""
    from aethergraph.core.engine.executors.ray import RayExecutor

    executor = RayExecutor(num_workers=1, max_runs_per_worker=1)
    with current_runtime().scoped() as runtime:
        runtime.configure(database_url=ray_database_url, executor=executor)
        try:
            yield executor
        finally:
            await executor.close()


async def waiting_run(question: str, graph: Any = graphs.ask) -> tuple[asyncio.Future[Any], str]:
    """Start ``graph`` with ``question``; the future of its outputs and its run id once held."""
    work = asyncio.ensure_future(run_async(graph, {"question": question}))
    async with asyncio.timeout(60):
        while True:
            runs = [
                r
                for r in await list_runs_async(graph_id=graph.name, status="waiting")
                if r.inputs == {"question": question}
            ]
            if runs and runs[0].owner == current_runtime().owner_id:  # back from its worker
                return work, runs[0].run_id
            assert not work.done(), work
            await asyncio.sleep(0.02)


def reply_from_another_process(run_id: str, text: str, url: str) -> str:
    env = {**os.environ, "AETHERGRAPH_DATABASE_URL": url}
    env.pop("AETHERGRAPH_WORKSPACE", None)
    done = subprocess.run(
        [sys.executable, str(PEER), "reply", run_id, text],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_waiting_run_frees_its_slot_and_a_reply_from_another_process_resumes_it(
    one_slot: RayExecutor, ray_database_url: str
) -> None:
    work, run_id = await waiting_run("Deploy?")
    # The only slot of the only worker is free: another run goes through meanwhile.
    other = await asyncio.wait_for(run_async(graphs.echo, {"i": 7}), 30)
    assert other["i"] == 7
    (wait,) = await list_waits_async(run_id=run_id)
    assert wait.prompt == "Deploy?"
    await asyncio.to_thread(reply_from_another_process, run_id, "yes", ray_database_url)
    outputs = await asyncio.wait_for(work, 60)
    assert outputs == {"answer": "yes", "pid": other["pid"]}  # resumed on the worker
    assert outputs["pid"] != os.getpid()
    assert (await get_run_async(run_id)).status is RunStatus.SUCCEEDED
    steps = [
        e.data.get("status", e.type)
        for e in await list_run_events_async(run_id)
        if e.type in ("run_status", "wait_opened", "wait_answered")
    ]
    assert steps == ["running", "wait_opened", "waiting", "wait_answered", "running", "succeeded"]


async def test_aethergraph_reply_answers_a_held_run_which_finishes_on_a_worker(
    one_slot: RayExecutor, ray_database_url: str
) -> None:
    work, run_id = await waiting_run("Tag it?")
    env = {**os.environ, "AETHERGRAPH_DATABASE_URL": ray_database_url}
    env.pop("AETHERGRAPH_WORKSPACE", None)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("aethergraph")),
        "reply",
        run_id,
        "--text",
        "tagged",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, out.decode() + err.decode()
    assert f"run {run_id} was answered; it goes on in {current_runtime().owner_id}" in out.decode()
    assert (await asyncio.wait_for(work, 60))["answer"] == "tagged"


async def test_a_reply_from_the_dispatching_process_resumes_the_run_on_a_worker(
    one_slot: RayExecutor,
) -> None:
    work, run_id = await waiting_run("Ship it?")
    record = await reply_async(run_id, text="shipped")
    assert record.status is RunStatus.SUCCEEDED
    outputs = await asyncio.wait_for(work, 60)
    assert outputs["answer"] == "shipped"
    assert outputs["pid"] != os.getpid()


async def test_two_runs_wait_at_once_on_one_slot_and_each_resumes_with_its_answer(
    one_slot: RayExecutor,
) -> None:
    first, first_id = await waiting_run("First?")
    second, second_id = await waiting_run("Second?")
    await reply_async(second_id, text="two")
    await reply_async(first_id, text="one")
    assert (await asyncio.wait_for(first, 60))["answer"] == "one"
    assert (await asyncio.wait_for(second, 60))["answer"] == "two"


async def test_a_task_graph_waiting_in_a_node_frees_its_slot_and_resumes_on_a_worker(
    one_slot: RayExecutor,
) -> None:
    work, run_id = await waiting_run("Label?", graphs.ask_graph)
    other = await asyncio.wait_for(run_async(graphs.echo, {"i": 8}), 30)
    await reply_async(run_id, text="v2")
    outputs = await asyncio.wait_for(work, 60)
    assert outputs == {"answer": "v2", "pid": other["pid"]}
    assert (await get_run_async(run_id)).status is RunStatus.SUCCEEDED


async def test_a_held_wait_expires_at_its_deadline_on_a_worker_as_it_would_in_process(
    one_slot: RayExecutor,
) -> None:
    started = time.monotonic()
    work, run_id = await waiting_run("Quick?", graphs.ask_briefly)
    other = await asyncio.wait_for(run_async(graphs.echo, {"i": 9}), 30)  # the slot is free
    outputs = await asyncio.wait_for(work, 30)
    assert outputs == {"answer": "no answer", "pid": other["pid"]}
    assert 1.0 <= time.monotonic() - started < 15
    (wait,) = await list_waits_async(run_id=run_id)
    assert wait.status is WaitStatus.EXPIRED


async def test_cancelling_a_held_waiting_run_ends_its_caller_with_run_cancelled(
    one_slot: RayExecutor,
) -> None:
    work, run_id = await waiting_run("Cancel me?")
    await cancel_run_async(run_id)
    with pytest.raises(RunCancelledError):
        await asyncio.wait_for(work, 10)  # the cancel wakes its holder (NOTIFY), not a late look
    assert (await get_run_async(run_id)).status is RunStatus.CANCELLED


async def test_a_held_run_is_looked_at_when_it_changes_rather_than_polled(
    one_slot: RayExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aethergraph.storage.postgres.storage import PostgresStorage

    work, run_id = await waiting_run("Quiet?")
    await asyncio.sleep(0.5)  # its holder's own claim notifies it too: one look, at once
    looks: list[float] = []
    read = PostgresStorage.get_run

    async def counted(self: PostgresStorage, looked_up: str) -> Any:
        if looked_up == run_id:
            looks.append(time.monotonic())
        return await read(self, looked_up)

    monkeypatch.setattr(PostgresStorage, "get_run", counted)
    await asyncio.sleep(3)
    assert looks == []  # held, unchanged: not read (a look a second each before)
    await reply_async(run_id, text="loud")  # wakes its holder through NOTIFY
    assert (await asyncio.wait_for(work, 30))["answer"] == "loud"


async def test_a_process_whose_runs_wait_for_a_ray_slot_keeps_beating(
    one_slot: RayExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aethergraph.core.engine import monitor
    from aethergraph.core.engine.executors import ray as ray_executor

    monkeypatch.setattr(monitor, "BEAT_S", 0.2)
    monkeypatch.setattr(ray_executor, "BEAT_S", 0.2)
    runtime = current_runtime()
    storage = runtime.storage()
    blocking = asyncio.ensure_future(run_async(graphs.block))  # takes the only slot
    queued = asyncio.ensure_future(run_async(graphs.echo, {"i": 3}))
    async with asyncio.timeout(30):
        while not (beats := await storage.heartbeats([runtime.owner_id])):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # another process's write: polled
        first = beats[runtime.owner_id]
        # Its queued run is recorded with this process as owner, and it hosts nothing itself:
        # it beats while the run waits for a slot, for readers on other hosts.
        while (await storage.heartbeats([runtime.owner_id]))[runtime.owner_id] == first:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert not queued.done()
    blocking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocking
    assert (await asyncio.wait_for(queued, 30))["i"] == 3
