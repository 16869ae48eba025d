"""What SQLite storage adds to the contract: a workspace on disk, shared across processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aethergraph.errors import StorageError
from aethergraph.storage.records import (
    Artifact,
    Event,
    LogEntry,
    NodeRecord,
    NodeStatus,
    RunEvent,
    RunRecord,
    RunStatus,
    WaitRecord,
)
from aethergraph.storage.sqlite import FLUSH_DEADLINE, SQLiteStorage
from aethergraph.storage.sqlite_schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator

RUN = RunRecord("r1", "g", RunStatus.SUCCEEDED, inputs={"x": 1}, outputs={"y": 2}, created_at=1.0)
NODE = NodeRecord("r1", "n1", "tool", NodeStatus.SUCCEEDED, outputs={"y": 2}, attempts=1)
EVENT = Event("e1", 1.0, "note", "scope", text="a needle in a haystack", tags=["t"], run_id="r1")
LOG = LogEntry("r1", 1.0, "INFO", "hello", extra={"k": [1]})
WAIT = WaitRecord("w1", "r1", "n1", "ask", "Proceed?", options=["yes", "no"])

READER = """
import asyncio, json, sys
from aethergraph.storage.sqlite import SQLiteStorage

async def main():
    storage = SQLiteStorage(sys.argv[1])
    run = await storage.get_run("r1")
    events = await storage.query_events(text="NEEDLE haystack")
    artifacts = await storage.query_artifacts(labels={"split": "test"})
    blob = await storage.read_bytes(artifacts[0].sha256)
    await storage.close()
    print(json.dumps({
        "run": run.to_json(),
        "events": [e.to_json() for e in events],
        "artifacts": [a.to_json() for a in artifacts],
        "blob": blob.decode(),
    }))

asyncio.run(main())
"""

INCREMENTER = """
import asyncio, sys
from aethergraph.storage.sqlite import SQLiteStorage

async def main():
    storage = SQLiteStorage(sys.argv[1])
    print("ready", flush=True)
    for _ in range(int(sys.argv[2])):
        await storage.kv_incr("counter", 1)
        await storage.flush()
    await storage.close()

asyncio.run(main())
"""


# The runs table of schema version 1, holding two runs created at the same time.
V1_RUNS = """
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, graph_id TEXT NOT NULL,
    status TEXT NOT NULL, kind TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT, error TEXT,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, parent_run_id TEXT,
    session_id TEXT, owner TEXT);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_status ON runs (status, created_at);
CREATE INDEX runs_graph_id ON runs (graph_id, created_at);
CREATE INDEX runs_session_id ON runs (session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX runs_parent_run_id ON runs (parent_run_id, created_at)
    WHERE parent_run_id IS NOT NULL;
INSERT INTO runs VALUES
    (1, 'first', 'g', 'succeeded', 'graph_fn', '{"x":1}', '{"y":2}', NULL, 5.0, NULL, NULL,
     NULL, NULL, NULL),
    (2, 'second', 'g', 'failed', 'graph_fn', '{}', NULL, 'boom', 5.0, NULL, NULL, NULL, NULL,
     NULL);
PRAGMA user_version = 1;
"""


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def write_everything(storage: SQLiteStorage) -> Artifact:
    await storage.put_run(RUN)
    await storage.put_node(NODE)
    await storage.append_event(EVENT)
    storage.append_log(LOG)
    await storage.kv_set_many({"k": {"v": 1}}, expires_at=None)
    await storage.put_wait(WAIT)
    sha = await storage.put_bytes(b"blob content")
    artifact = Artifact(
        "a1", f"artifact://{sha}", sha, 12, "file", 1.0, labels={"split": "test"}, run_id="r1"
    )
    await storage.add_artifact(artifact)
    return artifact


async def assert_holds_everything(storage: SQLiteStorage, artifact: Artifact) -> None:
    assert await storage.get_run("r1") == RUN
    assert await storage.list_nodes("r1") == [NODE]
    assert await storage.query_events(text="needle") == [EVENT]
    assert await storage.list_logs("r1") == [LOG]
    assert await storage.kv_get_many(["k"]) == {"k": {"v": 1}}
    assert await storage.get_wait("w1") == WAIT
    assert await storage.get_artifact("a1") == artifact
    assert await storage.read_bytes(artifact.sha256) == b"blob content"


async def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    artifact = await write_everything(storage)
    await storage.close()
    reopened = SQLiteStorage(tmp_path)
    try:
        await assert_holds_everything(reopened, artifact)
    finally:
        await reopened.close()


async def test_second_storage_on_the_workspace_sees_flushed_writes(tmp_path: Path) -> None:
    first, second = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    try:
        artifact = await write_everything(first)
        await first.flush()
        await assert_holds_everything(second, artifact)
    finally:
        await first.close()
        await second.close()


async def test_unflushed_write_reaches_other_connections_within_the_deadline(
    tmp_path: Path,
) -> None:
    writer, reader = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    try:
        await writer.put_run(RUN)
        for _ in range(200):
            if await reader.get_run("r1") is not None:
                break
            await asyncio.sleep(0.01)
        assert await reader.get_run("r1") == RUN
    finally:
        await writer.close()
        await reader.close()


async def test_another_process_reads_flushed_runs_events_and_artifacts(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        artifact = await write_everything(storage)
        await storage.flush()
        async with asyncio.timeout(30):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                READER,
                str(tmp_path),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        seen = json.loads(out)
        assert seen["run"] == RUN.to_json()
        assert seen["events"] == [EVENT.to_json()]
        assert seen["artifacts"] == [artifact.to_json()]
        assert seen["blob"] == "blob content"
    finally:
        await storage.close()


async def test_kv_incr_is_atomic_across_processes(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        async with asyncio.timeout(30):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                INCREMENTER,
                str(tmp_path),
                "300",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            assert await process.stdout.readline() == b"ready\n"
            for _ in range(300):
                await storage.kv_incr("counter", 1)
                await storage.flush()
                await asyncio.sleep(0)
            _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert await storage.kv_get_many(["counter"]) == {"counter": 600}
    finally:
        await storage.close()


async def test_workspace_layout(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "ws")
    try:
        sha = await storage.put_bytes(b"data")
        blob = tmp_path / "ws" / "artifacts" / "sha256" / sha[:2] / sha
        assert blob.read_bytes() == b"data"
        assert await storage.local_path(sha) == blob
        assert storage.staging_path(".csv").parent == tmp_path / "ws" / "tmp"
        assert (tmp_path / "ws" / "aethergraph.db").is_file()
        assert storage.location == str(tmp_path / "ws")
    finally:
        await storage.close()


async def test_put_file_move_renames_the_file_into_place(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        staged = storage.staging_path(".bin")
        staged.write_bytes(b"x" * 10_000)
        inode = staged.stat().st_ino
        sha = await storage.put_file(staged, move=True)
        assert (await storage.local_path(sha)).stat().st_ino == inode
        assert listing(tmp_path / "tmp") == []
    finally:
        await storage.close()


async def test_nothing_is_written_outside_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("TMPDIR", str(outside))
    monkeypatch.setenv("SQLITE_TMPDIR", str(outside))
    monkeypatch.setattr(tempfile, "tempdir", str(outside))
    storage = SQLiteStorage(tmp_path / "ws")
    try:
        await write_everything(storage)
        for n in range(200):
            await storage.append_event(Event(f"x{n}", float(n), "k", "s", text=f"w{n % 7} many"))
        await storage.query_events(text="many w3", limit=500)
        await storage.list_runs(graph_id="g")
        source = tmp_path / "ws" / "tmp" / "source.bin"
        source.write_bytes(b"copied")
        await storage.put_file(source)
        staged = storage.staging_path()
        staged.write_bytes(b"moved")
        await storage.local_path(await storage.put_file(staged, move=True))
        source.unlink()
    finally:
        await storage.close()
    assert listing(outside) == []
    assert listing(tmp_path) == ["outside", "ws"]
    assert listing(tmp_path / "ws" / "tmp") == []


@pytest.mark.parametrize(
    "digest",
    [
        "../" * 20 + "etc/passwd",
        "A" * 64,
        "0" * 63,
        "0" * 65,
        "0" * 64 + "\n",
        "/" + "0" * 63,
        "",
    ],
)
async def test_malformed_digest_raises_value_error(tmp_path: Path, digest: str) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        with pytest.raises(ValueError, match="64 lowercase hex"):
            await storage.read_bytes(digest)
        with pytest.raises(ValueError, match="64 lowercase hex"):
            await storage.local_path(digest)
    finally:
        await storage.close()


async def test_blob_content_matches_its_digest(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        data = bytes(range(256)) * 4096
        sha = await storage.put_bytes(data)
        path = await storage.local_path(sha)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    finally:
        await storage.close()


async def test_schema_version_is_recorded(tmp_path: Path) -> None:
    await SQLiteStorage(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


async def test_workspace_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    await SQLiteStorage(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        SQLiteStorage(tmp_path)


async def test_workspace_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(StorageError, match="cannot open the workspace"):
        SQLiteStorage(not_a_folder)


async def test_use_after_close_raises_storage_error(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.close()
    with pytest.raises(StorageError, match="closed"):
        await storage.put_run(RUN)
    with pytest.raises(StorageError, match="closed"):
        await storage.get_run("r1")
    with pytest.raises(StorageError, match="closed"):
        storage.append_log(LOG)


async def test_flush_reports_writes_sqlite_rolled_back(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        await storage.put_run(RUN)
        # Fault injection: a database that cannot grow fails like a full disk, and SQLite then
        # rolls back the whole open transaction, RUN (written before the log entry) included.
        storage._conn.execute("PRAGMA max_page_count = 1")
        with pytest.raises(StorageError, match="full"):
            await storage.append_event(Event("big", 1.0, "note", "scope", text="x" * 10**5))
        with pytest.raises(StorageError, match="lost"):
            await storage.flush()
        assert await storage.get_run("r1") is None
        storage._conn.execute("PRAGMA max_page_count = 1000000")
        await storage.put_run(RUN)
        await storage.flush()
        assert await storage.get_run("r1") == RUN
    finally:
        await storage.close()


@pytest.mark.parametrize("alone", [False, True], ids=["with-another", "alone"])
async def test_flush_reports_held_records_sqlite_could_not_write(
    tmp_path: Path, alone: bool
) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        if not alone:  # a lone held record is written without BEGIN and COMMIT: both ways fail
            await storage.put_run(RUN)
        storage._conn.execute("PRAGMA max_page_count = 1")
        # Run records wait in memory until a commit needs them: the flush meets the full disk.
        await storage.put_run(RunRecord("big", "g", RunStatus.RUNNING, inputs={"x": "x" * 10**5}))
        with pytest.raises(StorageError, match=r"full.*lost"):
            await storage.flush()
        await storage.flush()  # reported once
        assert await storage.get_run("r1") is None
        storage._conn.execute("PRAGMA max_page_count = 1000000")
        await storage.put_run(RUN)
        await storage.flush()
        assert await storage.get_run("r1") == RUN
    finally:
        await storage.close()


async def test_flush_reports_records_sqlite_refused_and_keeps_the_others(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        await storage.put_run(RUN)
        await storage.put_run(RunRecord("bad", None, RunStatus.RUNNING))  # type: ignore[arg-type]
        await storage.put_node(NODE)
        with pytest.raises(StorageError, match=r"run 'bad'.*NOT NULL"):
            await storage.flush()
        await storage.flush()  # reported once
        assert await storage.get_run("r1") == RUN
        assert await storage.get_run("bad") is None
        assert await storage.list_nodes("r1") == [NODE]
    finally:
        await storage.close()


async def test_held_records_with_and_without_errors_keep_their_order_and_values(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        failed = RunRecord(
            "r1", "g", RunStatus.FAILED, error="boom", session_id="s", created_at=1.0
        )
        await storage.put_run(failed)
        await storage.flush()
        retried = RunRecord("r1", "g", RunStatus.SUCCEEDED, outputs={"y": 1}, created_at=1.0)
        await storage.put_run(retried)  # error, session_id: None again
        nodes = [
            NodeRecord("r1", "a", "tool", NodeStatus.SUCCEEDED),
            NodeRecord("r1", "b", "tool", NodeStatus.FAILED, error="x"),
            NodeRecord("r1", "c", "tool", NodeStatus.SUCCEEDED),
        ]
        for node in nodes:
            await storage.put_node(node)
        await storage.flush()
        assert await storage.get_run("r1") == retried
        assert await storage.list_runs(session_id="s") == []
        assert await storage.list_nodes("r1") == nodes
    finally:
        await storage.close()


async def test_close_after_a_background_checkpoint_leaves_no_wal(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.put_run(RUN)
    await asyncio.sleep(FLUSH_DEADLINE * 4)  # the deadline commit, then a checkpoint, run
    await storage.close()
    assert "aethergraph.db-wal" not in listing(tmp_path)  # every connection closed
    reopened = SQLiteStorage(tmp_path)
    try:
        assert await reopened.get_run("r1") == RUN
    finally:
        await reopened.close()


async def test_workspace_of_schema_version_1_is_migrated(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    conn.executescript(V1_RUNS)
    conn.close()
    storage = SQLiteStorage(tmp_path)
    try:
        await storage.put_run(RunRecord("new", "g", RunStatus.RUNNING, created_at=5.0))
        assert [r.run_id for r in await storage.list_runs()] == ["new", "second", "first"]
        assert [r.run_id for r in await storage.list_runs(status=RunStatus.RUNNING)] == ["new"]
        assert await storage.get_run("first") == RunRecord(
            "first", "g", RunStatus.SUCCEEDED, inputs={"x": 1}, outputs={"y": 2}, created_at=5.0
        )
    finally:
        await storage.close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


async def test_put_file_move_of_a_blobs_own_file_keeps_the_blob(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        sha = await storage.put_bytes(b"kept")
        assert await storage.put_file(await storage.local_path(sha), move=True) == sha
        assert await storage.read_bytes(sha) == b"kept"
    finally:
        await storage.close()


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem than ``tmp_path``, where there is one."""
    if not Path("/dev/shm").is_dir() or Path("/dev/shm").stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem")
    folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder)


async def test_put_file_move_across_filesystems_copies_then_removes(
    tmp_path: Path, other_filesystem: Path
) -> None:
    source = other_filesystem / "data.bin"
    source.write_bytes(b"elsewhere")
    storage = SQLiteStorage(tmp_path)
    try:
        sha = await storage.put_file(source, move=True)
        assert not source.exists()
        assert await storage.read_bytes(sha) == b"elsewhere"
        assert listing(tmp_path / "tmp") == []
    finally:
        await storage.close()


def _as_version_5(conn: sqlite3.Connection) -> None:
    """Make a new workspace's database as version 5 left it: no run events in run rows."""
    conn.execute("ALTER TABLE runs DROP COLUMN events")
    conn.execute("ALTER TABLE runs DROP COLUMN events_last")
    conn.execute("PRAGMA user_version = 5")


async def test_a_version_5_workspace_keeps_its_pages_and_puts_new_first_pages_in_run_rows(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.put_run(RunRecord("old", "g", RunStatus.RUNNING, created_at=1.0))
    await storage.close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    _as_version_5(conn)
    conn.execute(
        "INSERT INTO run_event_pages VALUES ('old', 1, 2, "
        """'[[1,1.0,"run_status",{"status":"running"}],[2,2.0,"log",{}]]')"""
    )
    conn.commit()
    conn.close()

    storage = SQLiteStorage(tmp_path)
    try:
        storage.append_run_event(RunEvent("old", 3, 3.0, "log", {"n": 3}))
        await storage.put_run(RunRecord("new", "g", RunStatus.RUNNING, created_at=1.0))
        storage.append_run_event(RunEvent("new", 1, 1.0, "run_status", {"status": "running"}))
        await storage.put_run(RunRecord("big", "g", RunStatus.RUNNING, created_at=1.0))
        for seq in range(1, 101):
            storage.append_run_event(RunEvent("big", seq, float(seq), "log", {"n": seq}))
        await storage.flush()
        assert [e.seq for e in await storage.list_run_events("old")] == [1, 2, 3]
        assert await storage.list_run_events("new") == [
            RunEvent("new", 1, 1.0, "run_status", {"status": "running"})
        ]
        storage.append_run_event(RunEvent("new", 1, 9.0, "log"))  # taken: refused
        storage.append_run_event(RunEvent("new", 2, 2.0, "log"))
        with pytest.raises(StorageError, match="run event 1 of run 'new'"):
            await storage.flush()
        assert [e.seq for e in await storage.list_run_events("new", after=0)] == [1, 2]
        assert [e.seq for e in await storage.list_run_events("new", after=1)] == [2]
        assert await storage.last_run_event_seq("new") == 2
        assert len(await storage.list_run_events("big")) == 100
    finally:
        await storage.close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    try:
        inline = dict(conn.execute("SELECT run_id, events_last FROM runs"))
        pages = dict(conn.execute("SELECT run_id, count(*) FROM run_event_pages GROUP BY run_id"))
    finally:
        conn.close()
    assert inline == {"old": None, "new": 1, "big": None}  # a first page too big stays a page
    assert pages == {"old": 2, "new": 1, "big": 1}


async def test_a_version_2_workspace_gains_the_graph_digest_column_when_opened(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ws"
    store = SQLiteStorage(folder)
    await store.put_run(RunRecord("run-old", "g", RunStatus.SUCCEEDED, created_at=1.0))
    await store.close()
    conn = sqlite3.connect(folder / "aethergraph.db")
    _as_version_5(conn)
    conn.execute("ALTER TABLE runs DROP COLUMN graph_digest")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    reopened = SQLiteStorage(folder)
    old = await reopened.get_run("run-old")
    assert old is not None
    assert old.graph_digest is None
    await reopened.put_run(RunRecord("run-new", "g", RunStatus.RUNNING, graph_digest="abc"))
    new = await reopened.get_run("run-new")
    assert new is not None
    assert new.graph_digest == "abc"
    await reopened.close()


async def test_a_version_3_workspace_gains_the_run_event_owner_and_signal_tables(
    tmp_path: Path,
) -> None:
    await SQLiteStorage(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    _as_version_5(conn)
    for table in ["run_event_pages", "owners", "run_signals"]:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    storage = SQLiteStorage(tmp_path)
    try:
        storage.append_run_event(RunEvent("r1", 1, 1.0, "run_started"))
        await storage.beat("me", 2.0)
        await storage.signal_run("r1", "cancel")
        await storage.flush()
        assert await storage.list_run_events("r1") == [RunEvent("r1", 1, 1.0, "run_started")]
        assert await storage.heartbeats(["me"]) == {"me": 2.0}
        assert await storage.take_run_signals(["r1"]) == [("r1", "cancel")]
    finally:
        await storage.close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (6,)
    finally:
        conn.close()


async def test_a_version_4_workspace_keeps_its_run_events_in_pages(tmp_path: Path) -> None:
    await SQLiteStorage(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "aethergraph.db")
    _as_version_5(conn)
    conn.execute("DROP TABLE run_event_pages")
    conn.execute(
        "CREATE TABLE run_events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL,"
        " type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID"
    )
    conn.executemany(
        "INSERT INTO run_events VALUES (?, ?, ?, ?, ?)",
        [("r1", 1, 1.0, "run_status", '{"status": "running"}'), ("r1", 2, 2.0, "log", "{}")],
    )
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()

    storage = SQLiteStorage(tmp_path)
    try:
        storage.append_run_event(RunEvent("r1", 3, 3.0, "run_status", {"status": "succeeded"}))
        await storage.flush()
        assert await storage.list_run_events("r1") == [
            RunEvent("r1", 1, 1.0, "run_status", {"status": "running"}),
            RunEvent("r1", 2, 2.0, "log", {}),
            RunEvent("r1", 3, 3.0, "run_status", {"status": "succeeded"}),
        ]
        assert await storage.last_run_event_seq("r1") == 3
    finally:
        await storage.close()


async def test_events_held_between_commits_are_one_page_per_run(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        for seq in range(1, 101):
            storage.append_run_event(RunEvent("r1", seq, float(seq), "node", {"n": seq}))
            storage.append_run_event(RunEvent("r2", seq, float(seq), "node", {"n": seq}))
        await storage.flush()
        storage.append_run_event(RunEvent("r1", 50, 0.0, "node", {"n": "again"}))
        with pytest.raises(StorageError, match="run event 50 of run 'r1'"):
            await storage.flush()
        pages = storage._writer.conn.execute(
            "SELECT run_id, first_seq, last_seq FROM run_event_pages ORDER BY run_id"
        ).fetchall()
        assert pages == [("r1", 1, 100), ("r2", 1, 100)]
        assert [e.seq for e in await storage.list_run_events("r1", after=97)] == [98, 99, 100]
        assert [e.seq for e in await storage.list_run_events("r2", after=10, limit=2)] == [11, 12]
    finally:
        await storage.close()


CLAIMER = """
import asyncio, sys
from aethergraph.storage.records import RunRecord, RunStatus
from aethergraph.storage.sqlite import SQLiteStorage

async def main():
    storage = SQLiteStorage(sys.argv[1])
    me = sys.argv[2]
    print("ready", flush=True)
    while line := sys.stdin.readline().split():
        mode, run_id = line
        expected = None if mode == "insert" else RunStatus.PENDING
        record = RunRecord(run_id, "g", RunStatus.RUNNING, owner=me)
        won = await storage.claim_run(record, expect_status=expected, expect_owner=None)
        print(int(won), flush=True)
    await storage.close()

asyncio.run(main())
"""


async def test_claim_run_has_exactly_one_winner_among_processes(tmp_path: Path) -> None:
    rounds = 20
    storage = SQLiteStorage(tmp_path)
    processes: list[asyncio.subprocess.Process] = []
    try:
        for n in range(rounds):
            await storage.put_run(RunRecord(f"cas{n}", "g", RunStatus.PENDING))
        await storage.flush()
        async with asyncio.timeout(50):
            for name in ["p0", "p1", "p2"]:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-c",
                        CLAIMER,
                        str(tmp_path),
                        name,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                    )
                )
            for p in processes:
                assert p.stdout is not None
                assert await p.stdout.readline() == b"ready\n"
            for n in range(rounds):
                for mode, run_id in [("cas", f"cas{n}"), ("insert", f"new{n}")]:
                    for p in processes:
                        assert p.stdin is not None
                        p.stdin.write(f"{mode} {run_id}\n".encode())
                    await asyncio.gather(*(p.stdin.drain() for p in processes if p.stdin))
                    won = [int(await p.stdout.readline()) for p in processes if p.stdout]
                    assert sorted(won) == [0, 0, 1], (mode, n)
                    stored = await storage.get_run(run_id)
                    assert stored is not None
                    assert stored.owner == f"p{won.index(1)}"
            for p in processes:
                assert p.stdin is not None
                p.stdin.close()
                assert await p.wait() == 0
    finally:
        for p in processes:
            if p.returncode is None:
                p.kill()
                await p.wait()
        await storage.close()


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def longest_pause_while(work: Awaitable[None]) -> float:
    """Run ``work`` while a ticker runs on the loop; the longest time the ticker waited."""
    longest = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(tick())
        try:
            await work
        finally:
            done.set()
    return longest


async def test_the_loop_runs_on_while_another_process_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        async with asyncio.timeout(30):
            locker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                LOCKER,
                str(tmp_path / "aethergraph.db"),
                "1.0",
                stdout=asyncio.subprocess.PIPE,
            )
            assert locker.stdout is not None
            assert await locker.stdout.readline() == b"locked\n"
            started = time.perf_counter()

            async def write() -> None:
                await storage.put_run(RUN)
                storage.append_run_event(RunEvent("r1", 1, 1.0, "run_started"))
                await storage.kv_set_many({"k": 1}, expires_at=None)
                assert await storage.last_run_event_seq("r1") == 1
                await storage.flush()

            assert await longest_pause_while(write()) < 0.25
            assert time.perf_counter() - started > 0.5  # it did wait for the other process
            assert await locker.wait() == 0
        assert await storage.get_run("r1") == RUN
        assert await storage.kv_get_many(["k"]) == {"k": 1}
    finally:
        await storage.close()


async def test_the_loop_runs_on_while_a_thread_holds_the_connection(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        await storage.put_run(RUN)
        lock = storage._writer.lock
        lock.acquire()  # as a deadline commit waiting for another process would
        threading.Timer(0.5, lock.release).start()
        assert await longest_pause_while(storage.flush()) < 0.25
        assert await storage.get_run("r1") == RUN
    finally:
        await storage.close()


def test_a_statement_refused_as_busy_in_an_open_transaction_can_be_retried(
    tmp_path: Path,
) -> None:
    db = tmp_path / "busy.db"
    mine = sqlite3.connect(db, isolation_level=None, timeout=0)
    theirs = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        mine.execute("PRAGMA journal_mode = WAL")
        mine.execute("CREATE TABLE t (x)")
        mine.execute("BEGIN")
        assert mine.execute("SELECT count(*) FROM t").fetchone() == (0,)
        theirs.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as refused:
            mine.execute("INSERT INTO t VALUES (1)")
        assert refused.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
        assert mine.in_transaction  # not rolled back
        theirs.execute("ROLLBACK")
        mine.execute("INSERT INTO t VALUES (1)")
        mine.execute("COMMIT")
        assert theirs.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        mine.close()
        theirs.close()


OPENER = """
import asyncio, sys, time
from aethergraph.storage.sqlite import SQLiteStorage

async def main(path, at):
    time.sleep(max(0.0, at - time.time()))  # every process opens at the same moment
    storage = SQLiteStorage(path)
    await storage.kv_set_many({sys.argv[3]: 1}, expires_at=None)
    await storage.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
print("OPENED")
"""


def test_processes_opening_a_fresh_workspace_at_the_same_moment_all_succeed(
    tmp_path: Path,
) -> None:
    for round_ in range(3):
        folder = tmp_path / f"fresh{round_}"
        at = time.time() + 1.0
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(folder), str(at), f"p{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(6)
        ]
        outcomes = [p.communicate(timeout=30) for p in openers]
        assert all(out.strip() == "OPENED" for out, _ in outcomes), outcomes


# -- step files: graph_fn steps written ahead of their commit ------------------------------------
def _step(run_id: str, node_id: str, y: int) -> NodeRecord:
    return NodeRecord(run_id, node_id, "t", NodeStatus.SUCCEEDED, {"x": 1}, {"y": y}, None, 1)


def _step_lines(root: Path) -> list[bytes]:
    return [
        line
        for p in (root / "journal").glob("*.jsonl")
        for line in p.read_bytes().split(b"\0", 1)[0].split()
    ]


async def test_one_step_file_serves_every_run_and_empties_once_their_ends_are_committed(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path)
    try:
        for run_id in ("r1", "r2"):
            await storage.put_run(RunRecord(run_id, "g", RunStatus.RUNNING, created_at=1.0))
            await storage.journal_node(_step(run_id, "s_1", 1))
        assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 1
        assert len(_step_lines(tmp_path)) == 2
        await storage.put_run(RunRecord("r1", "g", RunStatus.SUCCEEDED, created_at=1.0))
        await storage.flush()
        assert len(_step_lines(tmp_path)) == 3  # r2 goes on: r1 gets an end mark
        await storage.put_run(RunRecord("r2", "g", RunStatus.FAILED, created_at=1.0))
        await storage.flush()
        assert _step_lines(tmp_path) == []
    finally:
        await storage.close()
    assert list((tmp_path / "journal").glob("*.jsonl")) == []


async def test_another_process_sees_steps_before_their_commit_and_not_once_the_run_ended(
    tmp_path: Path,
) -> None:
    host, reader = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    try:
        await host.put_run(RunRecord("r1", "g", RunStatus.RUNNING, created_at=1.0))
        await host.put_run(RunRecord("r2", "g", RunStatus.RUNNING, created_at=1.0))
        await host.journal_node(_step("r2", "s_1", 1))
        await host.journal_node(_step("r1", "s_1", 1))
        assert await reader.list_nodes("r1") == [_step("r1", "s_1", 1)]  # from the step file
        await host.put_run(RunRecord("r1", "g", RunStatus.FAILED, created_at=1.0))
        await host.flush()
        # r1 is resumed elsewhere and its step runs again: the old line (r2 keeps the host's
        # file) must not hide the new record.
        await reader.put_node(_step("r1", "s_1", 2))
        await reader.flush()
        assert await reader.list_nodes("r1") == [_step("r1", "s_1", 2)]
    finally:
        await host.close()
        await reader.close()


async def test_step_files_rotate_and_each_goes_once_its_runs_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aethergraph.storage import sqlite_steplog

    monkeypatch.setattr(sqlite_steplog, "ROTATE_BYTES", 1)  # one line per file
    storage = SQLiteStorage(tmp_path)
    try:
        for run_id in ("r1", "r2"):
            await storage.put_run(RunRecord(run_id, "g", RunStatus.RUNNING, created_at=1.0))
            await storage.journal_node(_step(run_id, "s_1", 1))
        assert len(list((tmp_path / "journal").glob("*.jsonl"))) == 2
        await storage.put_run(RunRecord("r1", "g", RunStatus.SUCCEEDED, created_at=1.0))
        await storage.flush()
        (left,) = _step_lines(tmp_path)  # r1's file is gone, no end mark needed
        assert left.startswith(b'["r2",')
        await storage.put_run(RunRecord("r2", "g", RunStatus.SUCCEEDED, created_at=1.0))
        await storage.flush()
        assert _step_lines(tmp_path) == []
    finally:
        await storage.close()


def _dead_pid() -> int:
    pid = 4_000_000
    while True:  # above the usual pid_max: no process has it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


async def test_a_dead_process_step_file_goes_when_the_workspace_opens_once_its_runs_ended(
    tmp_path: Path,
) -> None:
    storage = SQLiteStorage(tmp_path)
    await storage.put_run(RunRecord("done", "g", RunStatus.SUCCEEDED, created_at=1.0))
    await storage.put_run(RunRecord("open", "g", RunStatus.INTERRUPTED, created_at=1.0))
    await storage.close()
    journal = tmp_path / "journal"
    journal.mkdir(exist_ok=True)
    line = '["{}","s_1","t","succeeded",{{}},{{"y":1}},null,1,null,null]\n'
    finished = journal / f"steps.{_dead_pid()}.0a0a0a0a.0.jsonl"
    finished.write_text(line.format("done"))
    unfinished = journal / f"steps.{_dead_pid()}.0b0b0b0b.0.jsonl"
    unfinished.write_text(line.format("done") + line.format("open"))

    storage = SQLiteStorage(tmp_path)
    try:
        assert not finished.exists()
        assert unfinished.exists()  # "open" may be resumed: its step is its journal
        (step,) = await storage.list_nodes("open")
        assert step.outputs == {"y": 1}
        await storage.flush()  # the step is the reader's now: stored with its next commit
        await storage.put_run(RunRecord("open", "g", RunStatus.SUCCEEDED, created_at=1.0))
        await storage.flush()
        assert not unfinished.exists()
        assert [n.outputs for n in await storage.list_nodes("open")] == [{"y": 1}]
    finally:
        await storage.close()


async def test_a_started_node_reaches_other_processes_as_running_with_the_inputs_it_got(
    tmp_path: Path,
) -> None:
    host, reader = SQLiteStorage(tmp_path), SQLiteStorage(tmp_path)
    try:
        inputs = {"items": [1, 2]}
        started = NodeRecord(
            "r1", "n_1", "t", NodeStatus.RUNNING, inputs, attempts=1, started_at=5.0
        )
        await host.put_node(started)
        inputs["items"].append(3)  # the body changes what it was given
        started.status = NodeStatus.SUCCEEDED  # the engine ending the node, not yet stored
        await host.flush()
        (seen,) = await reader.list_nodes("r1")
        assert (seen.status, seen.inputs, seen.attempts, seen.started_at) == (
            NodeStatus.RUNNING,
            {"items": [1, 2]},
            1,
            5.0,
        )
        started.outputs, started.finished_at = {"y": 1}, 6.0
        await host.put_node(started)
        await host.flush()
        (seen,) = await reader.list_nodes("r1")
        assert (seen.status, seen.inputs, seen.outputs) == (
            NodeStatus.SUCCEEDED,
            {"items": [1, 2]},  # the inputs as the node started with them
            {"y": 1},
        )
    finally:
        await host.close()
        await reader.close()
