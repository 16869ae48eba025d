"""Runs kept in PostgreSQL: selected by URL, shared by processes, waits woken by NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import graph_fn, graphify, run, run_async, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ConfigurationError
from aethergraph.runtime import (
    NodeStatus,
    RunStatus,
    configure,
    list_nodes_async,
    list_run_events_async,
    list_runs,
    list_runs_async,
    read_artifact_async,
    reply_async,
)
from aethergraph.testing import scripted_channel, start_run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.core.engine.context import NodeContext

PEER = Path(__file__).parent / "programs" / "postgres_peer.py"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def database_url(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema of the session's PostgreSQL, configured for this test's runs."""
    url = f"{postgres_dsn}?schema=t_{uuid.uuid4().hex}"
    with current_runtime().scoped():
        configure(database_url=url)
        yield url


@graph_fn(name="pg_double")
def double(x: int) -> dict[str, int]:
    return {"y": 2 * x}


@tool(outputs=["value"], name="pg_add_one")
def add_one(value: int) -> dict[str, int]:
    return {"value": value + 1}


@graphify(name="pg_chain", inputs=["value"], outputs=["value"])
def chain(value):  # type: ignore[no-untyped-def]
    return {"value": add_one(add_one(add_one(value).value).value).value}


@graph_fn(name="pg_question")
async def question(rounds: int, *, context: NodeContext) -> dict[str, Any]:
    answered_at = []
    for n in range(rounds):
        await context.channel().ask_text(f"Question {n}?")
        answered_at.append(time.time())
    return {"answered_at": answered_at}


@graph_fn(name="pg_save")
async def save_text(text: str, *, context: NodeContext) -> dict[str, str]:
    return {"id": (await context.artifacts().save_text(text)).id}


def peer_env(url: str, artifact_root: Path | None) -> dict[str, str]:
    env = {**os.environ, "AETHERGRAPH_DATABASE_URL": url}
    env.pop("AETHERGRAPH_WORKSPACE", None)
    env.pop("AETHERGRAPH_ARTIFACT_ROOT", None)
    if artifact_root is not None:
        env["AETHERGRAPH_ARTIFACT_ROOT"] = str(artifact_root)
    return env


def peer(*args: str, url: str, artifact_root: Path | None = None) -> str:
    env = peer_env(url, artifact_root)
    done = subprocess.run(
        [sys.executable, str(PEER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def async_peer(*args: str, url: str, artifact_root: Path | None = None) -> str:
    env = peer_env(url, artifact_root)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PEER),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.strip(), f"the peer printed nothing; its stderr: {err.decode()}"
    return out.decode().strip().splitlines()[-1]


def test_sync_runs_of_a_graph_fn_and_a_task_graph_are_kept_in_postgres(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may fall back to ./aethergraph_data
    assert run(double, {"x": 4}) == {"y": 8}
    assert run(double, {"x": 5}) == {"y": 10}  # a second loop: a second connection, closed
    assert run(chain, {"value": 1}) == {"value": 4}
    runs = list_runs()
    assert [r.graph_id for r in runs] == ["pg_chain", "pg_double", "pg_double"]
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert "schema t_" in current_runtime().storage().location
    assert not (tmp_path / "aethergraph_data").exists()


async def test_async_runs_record_nodes_and_events_in_postgres(database_url: str) -> None:
    assert await run_async(chain, {"value": 10}) == {"value": 13}
    (record,) = await list_runs_async()
    nodes = await list_nodes_async(record.run_id)
    assert [n.status for n in nodes] == [NodeStatus.SUCCEEDED] * 3
    events = await list_run_events_async(record.run_id)
    assert events[-1].type == "run_status"
    assert events[-1].data["status"] == "succeeded"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_two_processes_on_one_database_see_each_others_runs(database_url: str) -> None:
    theirs = peer("run", url=database_url).removeprefix("RUN ")
    mine = run(double, {"x": 1})
    assert mine == {"y": 2}
    seen_here = {r.run_id: r for r in list_runs()}
    assert seen_here[theirs].graph_id == "peer_echo"
    assert seen_here[theirs].status is RunStatus.SUCCEEDED
    (my_run,) = [r for r in seen_here.values() if r.graph_id == "pg_double"]
    seen_there = json.loads(peer("list", url=database_url).removeprefix("RUNS "))
    assert set(seen_there) == {theirs, my_run.run_id}


async def test_an_answer_from_another_process_wakes_the_run_within_50_ms(
    database_url: str,
) -> None:
    rounds = 3  # polling every 0.2 s alone would miss 50 ms at least once in three
    with scripted_channel():
        handle = await start_run(question, {"rounds": rounds})
        replied_at = []
        for n in range(rounds):
            wait = await handle.next_wait()
            assert wait.prompt == f"Question {n}?"
            line = await async_peer("reply", handle.run_id, f"answer {n}", url=database_url)
            replied_at.append(float(line.removeprefix("REPLIED ")))
        outputs = await handle.result()
    lags = [a - r for a, r in zip(outputs["answered_at"], replied_at, strict=True)]
    assert max(lags) < 0.05, f"answers arrived {lags} s after the replies were stored"


async def test_a_signal_from_another_storage_object_is_heard_at_once_naming_its_run(
    database_url: str,
) -> None:
    from aethergraph.storage.postgres.database import PostgresDatabase

    mine, theirs = PostgresDatabase(database_url), PostgresDatabase(database_url)
    try:
        async with mine.follow_runs() as followed:
            assert await followed.changed(0.3) == set()  # listening now; nothing changed
            started = time.monotonic()
            await theirs.signal_run("r1", "cancel")
            assert await followed.changed(5) == {"r1"}
            assert time.monotonic() - started < 0.05
            await theirs.signal_run("r2", "cancel")
            await theirs.signal_run("r3", "cancel")
            await asyncio.sleep(0.1)
            assert await followed.changed(5) == {"r2", "r3"}  # all heard since the last ask
        assert await mine.take_run_signals(["r1"]) == [("r1", "cancel")]
    finally:
        await mine.close()
        await theirs.close()


async def test_a_followed_run_wakes_its_follower_for_its_own_signals_and_claims_only(
    database_url: str,
) -> None:
    from aethergraph.storage.postgres.database import PostgresDatabase
    from aethergraph.storage.records import RunRecord

    mine, theirs = PostgresDatabase(database_url), PostgresDatabase(database_url)
    run_id = f"run-{uuid.uuid4().hex}"
    record = RunRecord(run_id, "g", RunStatus.WAITING, "graph_fn", {}, None, None, 1.0, 1.0)
    await theirs.put_run(record)
    await theirs.flush()
    try:
        async with mine.follow_run(run_id) as followed:
            assert not await followed.changed(0.3)  # listening now; nothing changed
            await theirs.signal_run(f"{run_id}-other", "cancel")
            assert not await followed.changed(0.3)  # another run's change
            started = time.monotonic()
            await theirs.signal_run(run_id, "cancel")
            assert await followed.changed(5)
            assert time.monotonic() - started < 0.05
            taken = RunRecord(
                run_id, "g", RunStatus.CANCELLED, "graph_fn", {}, None, None, 1.0, 1.0
            )
            assert await theirs.claim_run(taken, expect_status=RunStatus.WAITING, expect_owner=None)
            assert await followed.changed(5)  # a claim by another process is a change too
    finally:
        await mine.close()
        await theirs.close()


async def test_a_follower_looks_again_and_listens_again_when_its_connection_ends(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aethergraph.storage.postgres import changes
    from aethergraph.storage.postgres.database import PostgresDatabase

    monkeypatch.setattr(changes, "RELISTEN_S", 0.0)
    mine, theirs = PostgresDatabase(database_url), PostgresDatabase(database_url)
    try:
        async with mine.follow_run("r1") as followed:
            assert not await followed.changed(0.2)
            listener = (await mine.storage())._changes
            assert listener._conn is not None
            pid = listener._conn.get_server_pid()
            await theirs.kv_set_many({}, expires_at=None)  # opens its pool
            store = await theirs.storage()
            await store._pool.execute("SELECT pg_terminate_backend($1)", pid)
            assert await followed.changed(5)  # woken to look at the store: it may have missed one
            assert not await followed.changed(0.2)  # listening again, on a new connection
            assert listener._conn is not None
            assert listener._conn.get_server_pid() != pid
            await theirs.signal_run("r1", "cancel")
            assert await followed.changed(5)
    finally:
        await mine.close()
        await theirs.close()


def test_a_database_url_that_is_not_postgresql_is_refused_at_configure() -> None:
    with (
        current_runtime().scoped(),
        pytest.raises(ConfigurationError, match=r"not a PostgreSQL URL.*postgresql://"),
    ):
        configure(database_url="mysql://localhost/db")


def test_importing_aethergraph_imports_neither_asyncpg_nor_ray() -> None:
    code = (
        "import sys, aethergraph, aethergraph.runtime, aethergraph.testing;"
        "from aethergraph.runtime import configure;"
        "configure(database_url='postgresql://127.0.0.1:1/x');"
        "print(sorted(m for m in ('asyncpg', 'ray') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "[]"


async def test_processes_with_one_artifact_root_read_each_others_artifact_bytes(
    database_url: str, postgres_dsn: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    configure(artifact_root=shared)
    line = await async_peer("save", "from the peer", url=database_url, artifact_root=shared)
    assert await read_artifact_async(line.removeprefix("ARTIFACT ")) == b"from the peer"
    mine = (await run_async(save_text, {"text": "from here"}))["id"]
    line = await async_peer("read", mine, url=database_url, artifact_root=shared)
    assert line == "READ from here"
    # The bytes are files under the root, named by their digest; the database holds none.
    blobs = sorted((shared / "artifacts" / "sha256").rglob("*/*"))
    assert sorted(b.read_bytes() for b in blobs) == [b"from here", b"from the peer"]
    assert {b.name for b in blobs} == {hashlib.sha256(b.read_bytes()).hexdigest() for b in blobs}
    import asyncpg

    schema = database_url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".blobs') == 0
    finally:
        await conn.close()


async def test_a_process_naming_no_artifact_root_uses_the_one_the_database_records(
    database_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    configure(artifact_root=shared)
    mine = (await run_async(save_text, {"text": "kept under the root"}))["id"]
    assert await async_peer("read", mine, url=database_url) == "READ kept under the root"
    line = await async_peer("save", "saved by a process naming no root", url=database_url)
    blobs = sorted(b.read_bytes() for b in (shared / "artifacts" / "sha256").rglob("*/*"))
    assert blobs == [b"kept under the root", b"saved by a process naming no root"]
    assert await read_artifact_async(line.removeprefix("ARTIFACT ")) == blobs[1]


async def test_another_folder_as_artifact_root_of_the_same_database_is_refused_naming_both(
    database_url: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    configure(artifact_root=first)
    await run_async(save_text, {"text": "in the first root"})
    with current_runtime().scoped():
        configure(database_url=database_url, artifact_root=second)
        expected = (
            rf"artifact root '{second}' is not the folder the database .* keeps artifact bytes "
            rf"in: that one was first used at '{first}'.*ARTIFACT_ROOT"
        )
        with pytest.raises(ConfigurationError, match=expected):
            await run_async(save_text, {"text": "in the second root"})
    assert not list((second / "artifacts").rglob("*/*/*"))  # no blob was written there


async def test_the_same_artifact_root_reached_at_another_path_is_accepted(
    database_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    configure(artifact_root=shared)
    kept = (await run_async(save_text, {"text": "one folder, two paths"}))["id"]
    mounted = tmp_path / "mounted-elsewhere"
    mounted.symlink_to(shared)
    line = await async_peer("read", kept, url=database_url, artifact_root=mounted)
    assert line == "READ one folder, two paths"


async def test_a_recorded_artifact_root_unreachable_here_is_warned_about_naming_it(
    database_url: str, postgres_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aethergraph.storage.postgres import PostgresStorage

    shared = tmp_path / "shared"
    shared.mkdir()
    configure(artifact_root=shared)
    await run_async(save_text, {"text": "under a root that goes away"})
    shared.rename(tmp_path / "unmounted")
    schema = database_url.rsplit("schema=", 1)[1]
    with caplog.at_level(logging.WARNING, logger="aethergraph"):
        store = await PostgresStorage.connect(postgres_dsn, schema=schema)
    try:
        assert store.artifact_root is None  # blobs it saves go to the table
        assert f"keeps artifact bytes under the artifact root '{shared}'" in caplog.text
        assert "AETHERGRAPH_ARTIFACT_ROOT" in caplog.text
    finally:
        await store.close()


@pytest.mark.parametrize("wrong", ["missing", "a file"])
async def test_an_unusable_artifact_root_is_refused_naming_the_setting_and_the_path(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    root = tmp_path / "not-mounted"
    if wrong == "a file":
        root.write_text("")
    monkeypatch.setenv("AETHERGRAPH_ARTIFACT_ROOT", str(root))
    expected = rf"artifact root '{root}' (does not exist|is not a folder).*ARTIFACT_ROOT"
    with pytest.raises(ConfigurationError, match=expected):
        await run_async(double, {"x": 1})
    assert not root.is_dir()  # nothing made in place of a missing mount


def test_an_artifact_root_without_postgresql_is_refused_saying_what_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AETHERGRAPH_DATABASE_URL", raising=False)
    with current_runtime().scoped() as runtime:
        with pytest.raises(ConfigurationError, match=r"artifact_root.*give database_url with it"):
            configure(workspace=tmp_path, artifact_root=tmp_path)
        runtime.configure(artifact_root=tmp_path)
        with pytest.raises(ConfigurationError, match=r"blobs of PostgreSQL.*give database_url"):
            runtime.storage()


async def test_blobs_the_database_kept_stay_readable_once_an_artifact_root_is_set(
    database_url: str, tmp_path: Path
) -> None:
    before = (await run_async(save_text, {"text": "kept in the database"}))["id"]
    shared = tmp_path / "shared"
    shared.mkdir()
    configure(artifact_root=shared)
    assert await read_artifact_async(before) == b"kept in the database"
    storage = current_runtime().storage()
    artifact = await storage.get_artifact(before)
    assert artifact is not None
    path = await storage.local_path(artifact.sha256)  # as a file: copied into the root
    assert path.is_relative_to(shared)
    assert path.read_bytes() == b"kept in the database"


async def test_a_reply_after_a_hosts_wait_opened_but_before_it_shows_waiting_reaches_the_host(
    database_url: str,
) -> None:
    from aethergraph.core.engine.runtime import process_start_ticks
    from aethergraph.storage.records import RunRecord, WaitRecord, WaitStatus

    host = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        owner = f"{socket.gethostname()}:{host.pid}:{process_start_ticks(host.pid)}"
        storage = current_runtime().storage()
        now = time.time()
        running = RunRecord("run-between", "pg_question", RunStatus.RUNNING, owner=owner)
        running.created_at = running.started_at = now
        await storage.put_run(running)
        await storage.put_wait(
            WaitRecord("run-between/root/1", "run-between", "root", "text", "Now?", created_at=now)
        )
        record = await reply_async("run-between", text="early")
        assert record.status is RunStatus.RUNNING  # the host goes on with the stored answer
        (wait,) = await storage.list_waits(run_id="run-between")
        assert wait.status is WaitStatus.ANSWERED
        assert wait.reply == {"text": "early", "choice": None}
    finally:
        host.kill()
        await host.wait()


@pytest.mark.parametrize("delay", [0.0, 0.0002, 0.0005, 0.001, 0.002, 0.005])
async def test_a_write_cancelled_on_its_way_is_neither_lost_nor_refused_when_written_again(
    postgres_dsn: str, delay: float
) -> None:
    from aethergraph.storage.postgres import PostgresStorage
    from aethergraph.storage.records import RunEvent

    store = await PostgresStorage.connect(postgres_dsn, schema=f"t_{uuid.uuid4().hex}")
    try:
        store.append_run_event(RunEvent("r0", 1, 0.5, "run_status", {"status": "running"}))
        await store.flush()  # the statement is prepared: the next one goes out at once
        store.append_run_event(RunEvent("r1", 1, 1.0, "run_status", {"status": "running"}))
        flushing = asyncio.ensure_future(store.flush())
        await asyncio.sleep(delay)  # the statement is on its way, or applied, or answered
        flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flushing
        store.append_run_event(RunEvent("r1", 2, 2.0, "run_status", {"status": "succeeded"}))
        await store.flush()  # no "seq is taken" for the event the cancelled write stored
        events = await store.list_run_events("r1")
        assert [(e.seq, e.data["status"]) for e in events] == [(1, "running"), (2, "succeeded")]
    finally:
        await store.close()


async def test_an_event_written_twice_is_stored_once_and_another_with_its_seq_refused(
    postgres_dsn: str,
) -> None:
    from aethergraph.errors import StorageError
    from aethergraph.storage.postgres import PostgresStorage
    from aethergraph.storage.records import RunEvent

    store = await PostgresStorage.connect(postgres_dsn, schema=f"t_{uuid.uuid4().hex}")
    try:
        event = RunEvent("r1", 1, 1.0, "run_status", {"status": "running"})
        for _ in range(2):  # a write whose outcome was unknown is written again
            store.append_run_event(event)
            await store.flush()
        store.append_run_event(RunEvent("r1", 1, 1.0, "run_status", {"status": "failed"}))
        with pytest.raises(StorageError, match=r"run event 1 of run 'r1': its seq is taken"):
            await store.flush()
        assert [e.data for e in await store.list_run_events("r1")] == [{"status": "running"}]
    finally:
        await store.close()


async def test_followers_are_told_to_look_at_the_store_while_listen_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aethergraph.storage.postgres.changes import UNHEARD_S, ChangeListener

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listener = ChangeListener(f"postgresql://nobody@127.0.0.1:{port}/none", "s")
    with caplog.at_level(logging.WARNING, logger="aethergraph"):
        async with listener.follow_runs() as every, listener.follow_run("r1") as one:
            started = time.monotonic()
            assert await every.changed(0.05) is None  # cannot tell which: look at all
            assert await one.changed(5) is True  # look at the store, after UNHEARD_S
            assert time.monotonic() - started < UNHEARD_S + 0.5
    assert "cannot LISTEN for changes" in caplog.text
    await listener.close()
