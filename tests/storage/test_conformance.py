"""The storage contract: every backend must pass every test here, unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.memory import MemoryStorage
from aethergraph.storage.records import (
    Artifact,
    Event,
    LogEntry,
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
    WaitRecord,
    WaitStatus,
)
from aethergraph.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aethergraph.storage.protocols import Storage

UNKNOWN_DIGEST = "0" * 64
PAST = 1.0  # an absolute expiry long gone


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store: Storage = (
        MemoryStorage() if request.param == "memory" else SQLiteStorage(tmp_path / "workspace")
    )
    yield store
    await store.close()


def make_run(run_id: str, created_at: float = 1.0, **fields: Any) -> RunRecord:
    fields.setdefault("graph_id", "g")
    fields.setdefault("status", RunStatus.RUNNING)
    return RunRecord(run_id=run_id, created_at=created_at, **fields)


def make_event(n: int, **fields: Any) -> Event:
    fields.setdefault("kind", "note")
    fields.setdefault("scope_id", "scope")
    return Event(id=f"e{n}", ts=float(n), **fields)


def make_artifact(n: int, **fields: Any) -> Artifact:
    sha = hashlib.sha256(str(n).encode()).hexdigest()
    fields.setdefault("kind", "file")
    return Artifact(
        id=f"a{n}", uri=f"artifact://{sha}", sha256=sha, size=n, created_at=float(n), **fields
    )


def make_wait(wait_id: str, run_id: str = "r1", **fields: Any) -> WaitRecord:
    return WaitRecord(wait_id=wait_id, run_id=run_id, node_id="n", kind="ask", prompt="?", **fields)


# -- runs ----------------------------------------------------------------------------------------
async def test_get_run_returns_what_put_run_stored(storage: Storage) -> None:
    record = RunRecord(
        run_id="r1",
        graph_id="g",
        status=RunStatus.SUCCEEDED,
        kind="task_graph",
        inputs={"x": [1, 2.5, None, {"deep": True}], "name": "Zoë"},
        outputs={"y": "done"},
        error="none really",
        created_at=10.5,
        started_at=11.0,
        finished_at=12.25,
        parent_run_id="p1",
        session_id="s1",
        owner="host:1:boot",
    )
    await storage.put_run(record)
    got = await storage.get_run("r1")
    assert got == record
    assert got is not None
    assert type(got.status) is RunStatus


async def test_get_run_of_unknown_id_is_none(storage: Storage) -> None:
    assert await storage.get_run("nope") is None


async def test_put_run_replaces_the_record_with_the_same_id(storage: Storage) -> None:
    await storage.put_run(make_run("r1"))
    final = make_run("r1", status=RunStatus.FAILED, outputs={"partial": 1}, error="boom")
    await storage.put_run(final)
    assert await storage.get_run("r1") == final
    assert await storage.list_runs() == [final]


async def test_list_runs_is_newest_first(storage: Storage) -> None:
    for run_id, created_at in [("b", 2.0), ("c", 3.0), ("a", 1.0)]:
        await storage.put_run(make_run(run_id, created_at))
    assert [r.run_id for r in await storage.list_runs()] == ["c", "b", "a"]


async def test_list_runs_orders_equal_times_newest_stored_first_even_after_replace(
    storage: Storage,
) -> None:
    for run_id in ["first", "second", "third"]:
        await storage.put_run(make_run(run_id, 5.0))
    await storage.put_run(make_run("first", 5.0, status=RunStatus.SUCCEEDED))
    assert [r.run_id for r in await storage.list_runs()] == ["third", "second", "first"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", RunStatus.WAITING),
        ("graph_id", "other"),
        ("session_id", "s1"),
        ("parent_run_id", "p1"),
    ],
)
async def test_list_runs_filters_by_field(storage: Storage, field: str, value: str) -> None:
    await storage.put_run(make_run("plain", 1.0))
    await storage.put_run(make_run("match-old", 2.0, **{field: value}))
    await storage.put_run(make_run("match-new", 3.0, **{field: value}))
    found = await storage.list_runs(**{field: value})
    assert [r.run_id for r in found] == ["match-new", "match-old"]


async def test_list_runs_requires_every_filter_given(storage: Storage) -> None:
    await storage.put_run(make_run("r1", graph_id="g1", session_id="s"))
    await storage.put_run(make_run("r2", graph_id="g2", session_id="s"))
    found = await storage.list_runs(graph_id="g2", session_id="s", status=RunStatus.RUNNING)
    assert [r.run_id for r in found] == ["r2"]
    assert await storage.list_runs(graph_id="g2", session_id="other") == []


async def test_list_runs_pages_with_limit_and_offset(storage: Storage) -> None:
    for n in range(10):
        await storage.put_run(make_run(f"r{n}", float(n)))
    page = await storage.list_runs(limit=3, offset=2)
    assert [r.run_id for r in page] == ["r7", "r6", "r5"]
    assert await storage.list_runs(limit=5, offset=9) == [make_run("r0", 0.0)]
    assert await storage.list_runs(limit=0) == []


# -- nodes ---------------------------------------------------------------------------------------
async def test_list_nodes_keeps_first_stored_order_after_replace(storage: Storage) -> None:
    for node_id in ["n2", "n1", "n3"]:
        await storage.put_node(NodeRecord("r1", node_id, "tool", NodeStatus.RUNNING))
    done = NodeRecord(
        "r1",
        "n2",
        "tool",
        NodeStatus.SUCCEEDED,
        inputs={"a": 1},
        outputs={"b": [2]},
        error=None,
        attempts=2,
        started_at=1.0,
        finished_at=2.0,
    )
    await storage.put_node(done)
    nodes = await storage.list_nodes("r1")
    assert [n.node_id for n in nodes] == ["n2", "n1", "n3"]
    assert nodes[0] == done
    assert type(nodes[0].status) is NodeStatus


async def test_list_nodes_returns_only_that_runs_nodes(storage: Storage) -> None:
    await storage.put_node(NodeRecord("r1", "n", "tool", NodeStatus.PENDING))
    await storage.put_node(NodeRecord("r2", "n", "tool", NodeStatus.FAILED, error="x"))
    assert await storage.list_nodes("r2") == [
        NodeRecord("r2", "n", "tool", NodeStatus.FAILED, error="x")
    ]
    assert await storage.list_nodes("unknown") == []


# -- events --------------------------------------------------------------------------------------
async def test_query_events_returns_what_append_event_stored(storage: Storage) -> None:
    event = Event(
        id="e1",
        ts=1.5,
        kind="tool_result",
        scope_id="scope",
        topic="math",
        data={"rows": [[1, 2], [3, 4]], "ok": True},
        text="Sum computed",
        tags=["a", "b"],
        metrics={"loss": 0.25},
        inputs=[{"name": "x", "value": 1}],
        outputs=[{"name": "y", "value": 2}],
        run_id="r1",
        graph_id="g",
        node_id="n",
        session_id="s",
    )
    await storage.append_event(event)
    assert await storage.query_events() == [event]


async def test_query_events_returns_the_newest_matches_oldest_first(storage: Storage) -> None:
    for n in range(6):
        await storage.append_event(make_event(n))
    found = await storage.query_events(limit=3)
    assert [e.id for e in found] == ["e3", "e4", "e5"]
    assert await storage.query_events(limit=0) == []


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ({"scope_id": "s2"}, "scope_id", "s2"),
        ({"run_id": "r2"}, "run_id", "r2"),
        ({"topic": "t2"}, "topic", "t2"),
        ({"kinds": ["k2", "k3"]}, "kind", "k2"),
    ],
)
async def test_query_events_filters_by_field(
    storage: Storage, query: dict[str, Any], field: str, value: str
) -> None:
    await storage.append_event(make_event(1))
    await storage.append_event(make_event(2, **{field: value}))
    await storage.append_event(make_event(3))
    assert [e.id for e in await storage.query_events(**query)] == ["e2"]


async def test_query_events_requires_every_tag(storage: Storage) -> None:
    await storage.append_event(make_event(1, tags=["a"]))
    await storage.append_event(make_event(2, tags=["b", "a", "c"]))
    await storage.append_event(make_event(3, tags=["b"]))
    assert [e.id for e in await storage.query_events(tags=["a", "b"])] == ["e2"]
    assert [e.id for e in await storage.query_events(tags=["a"])] == ["e1", "e2"]
    assert len(await storage.query_events(tags=[])) == 3


async def test_query_events_text_requires_every_word_in_any_case(storage: Storage) -> None:
    await storage.append_event(make_event(1, text="The quick brown fox"))
    await storage.append_event(make_event(2, text="a quick test"))
    assert [e.id for e in await storage.query_events(text="QUICK fox")] == ["e1"]
    assert [e.id for e in await storage.query_events(text="quick")] == ["e1", "e2"]
    assert await storage.query_events(text="quick lazy") == []


async def test_query_events_text_searches_text_topic_kind_and_tags(storage: Storage) -> None:
    await storage.append_event(
        make_event(1, text="alpha", topic="beta gamma", kind="delta_kind", tags=["Epsilon"])
    )
    await storage.append_event(make_event(2, text="other"))
    for query in ["alpha", "gamma", "delta_kind", "epsilon", "alpha beta delta_kind epsilon"]:
        assert [e.id for e in await storage.query_events(text=query)] == ["e1"], query


async def test_query_events_text_matches_whole_words(storage: Storage) -> None:
    await storage.append_event(make_event(1, text="food snake_case Über café 東京"))
    for query in ["food", "snake_case", "über", "CAFÉ", "東京"]:
        assert [e.id for e in await storage.query_events(text=query)] == ["e1"], query
    for query in ["foo", "snake", "case", "cafe", "東"]:
        assert await storage.query_events(text=query) == [], query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('foo AND "bar', ["e1"]),
        ("NEAR(", ["e2"]),
        ("NEAR(foo bar, 2)", []),
        ("star*", ["e2"]),
        ('say "hello', ["e4"]),
        ("-plain", ["e3"]),
        ("text:plain", ["e3"]),
        ("^foo", ["e1"]),
        ("text OR nothing", []),
        ("NOT", []),
        ("*", ["e1", "e2", "e3", "e4"]),
        (")(", ["e1", "e2", "e3", "e4"]),
        ('"', ["e1", "e2", "e3", "e4"]),
        ("", ["e1", "e2", "e3", "e4"]),
    ],
)
async def test_query_events_text_treats_search_syntax_as_plain_words(
    storage: Storage, query: str, expected: list[str]
) -> None:
    await storage.append_event(make_event(1, text="foo and bar"))
    await storage.append_event(make_event(2, text="near the star"))
    await storage.append_event(make_event(3, text="plain text"))
    await storage.append_event(make_event(4, text='they say "hello"'))
    assert [e.id for e in await storage.query_events(text=query)] == expected


async def test_query_events_combines_text_with_other_filters_and_limit(storage: Storage) -> None:
    for n in range(6):
        await storage.append_event(make_event(n, text="match", scope_id=f"s{n % 2}"))
    await storage.append_event(make_event(6, text="other", scope_id="s0"))
    found = await storage.query_events(scope_id="s0", text="match", limit=2)
    assert [e.id for e in found] == ["e2", "e4"]


# -- logs ----------------------------------------------------------------------------------------
async def test_list_logs_returns_the_first_entries_oldest_first(storage: Storage) -> None:
    entries = [
        LogEntry("r1", float(n), "INFO", f"m{n}", node_id="n", graph_id="g", extra={"n": n})
        for n in range(5)
    ]
    for entry in entries:
        storage.append_log(entry)
    storage.append_log(LogEntry("r2", 0.0, "ERROR", "elsewhere"))
    assert await storage.list_logs("r1") == entries
    assert await storage.list_logs("r1", limit=2) == entries[:2]
    assert await storage.list_logs("unknown") == []


async def test_append_log_keeps_every_entry_from_several_threads(storage: Storage) -> None:
    def log_many(thread: int) -> None:
        for n in range(50):
            storage.append_log(LogEntry("r1", time.time(), "INFO", f"{thread}:{n}"))

    threads = [threading.Thread(target=log_many, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages = [e.message for e in await storage.list_logs("r1")]
    assert len(messages) == 400
    for thread in range(8):
        assert [m for m in messages if m.startswith(f"{thread}:")] == [
            f"{thread}:{n}" for n in range(50)
        ]


# -- kv ------------------------------------------------------------------------------------------
async def test_kv_get_many_returns_the_live_keys_asked_for(storage: Storage) -> None:
    value = {"nested": [1, 2.5, None, True, "ü"]}
    await storage.kv_set_many({"a": value, "b": 2, "c": "three"}, expires_at=None)
    assert await storage.kv_get_many(["a", "missing", "c"]) == {"a": value, "c": "three"}
    assert await storage.kv_get_many([]) == {}


async def test_kv_set_many_overwrites_value_and_expiry(storage: Storage) -> None:
    await storage.kv_set_many({"a": 1}, expires_at=PAST)
    await storage.kv_set_many({"a": 2}, expires_at=None)
    assert await storage.kv_get_many(["a"]) == {"a": 2}


async def test_kv_key_past_its_expiry_is_gone(storage: Storage) -> None:
    await storage.kv_set_many({"old": 1, "live": 2}, expires_at=PAST)
    await storage.kv_set_many({"live": 2}, expires_at=time.time() + 3600)
    assert await storage.kv_get_many(["old", "live"]) == {"live": 2}
    assert await storage.kv_scan("") == ["live"]
    assert await storage.kv_delete("old") is False
    assert await storage.kv_expire("old", None) is False
    assert await storage.kv_incr("old", 5) == 5


async def test_kv_delete_reports_whether_the_key_existed(storage: Storage) -> None:
    await storage.kv_set_many({"a": 1}, expires_at=None)
    assert await storage.kv_delete("a") is True
    assert await storage.kv_delete("a") is False
    assert await storage.kv_get_many(["a"]) == {}


async def test_kv_expire_changes_the_expiry_of_a_live_key(storage: Storage) -> None:
    await storage.kv_set_many({"a": 1, "b": 2}, expires_at=time.time() + 3600)
    assert await storage.kv_expire("a", None) is True
    assert await storage.kv_expire("b", PAST) is True
    assert await storage.kv_get_many(["a", "b"]) == {"a": 1}
    assert await storage.kv_expire("missing", None) is False


async def test_kv_scan_lists_live_keys_with_the_prefix_sorted(storage: Storage) -> None:
    keys = ["user:b", "user:a", "user:a:x", "users", "use", "other", "user:\U0010ffff"]
    await storage.kv_set_many(dict.fromkeys(keys, 0), expires_at=None)
    await storage.kv_set_many({"user:expired": 0}, expires_at=PAST)
    assert await storage.kv_scan("user:") == ["user:a", "user:a:x", "user:b", "user:\U0010ffff"]
    assert await storage.kv_scan("") == sorted(keys)
    assert await storage.kv_scan("nothing") == []


async def test_kv_incr_counts_from_zero(storage: Storage) -> None:
    assert await storage.kv_incr("n", 2) == 2
    assert await storage.kv_incr("n", -5) == -3
    await storage.kv_set_many({"t": 10}, expires_at=None)
    assert await storage.kv_incr("t", 1) == 11
    assert await storage.kv_get_many(["n", "t"]) == {"n": -3, "t": 11}


async def test_kv_incr_keeps_the_expiry(storage: Storage) -> None:
    await storage.kv_set_many({"t": 10}, expires_at=time.time() + 0.2)
    assert await storage.kv_incr("t", 1) == 11
    for _ in range(250):
        if not await storage.kv_get_many(["t"]):
            break
        await asyncio.sleep(0.02)
    assert await storage.kv_get_many(["t"]) == {}


@pytest.mark.parametrize("value", ["7", 1.5, True, None, [1], {"n": 1}])
async def test_kv_incr_of_a_non_integer_raises_type_error_naming_the_key(
    storage: Storage, value: Any
) -> None:
    await storage.kv_set_many({"counter": value}, expires_at=None)
    with pytest.raises(TypeError, match=r"kv key 'counter' holds \w+, not an integer"):
        await storage.kv_incr("counter", 1)
    assert await storage.kv_get_many(["counter"]) == {"counter": value}


# -- blobs ---------------------------------------------------------------------------------------
async def test_put_bytes_names_content_by_sha256(storage: Storage) -> None:
    data = b"\x00hello\xff" * 1000
    sha = await storage.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert await storage.put_bytes(data) == sha
    assert await storage.read_bytes(sha) == data
    assert (await storage.local_path(sha)).read_bytes() == data


async def test_put_file_keeps_the_source_unless_moved(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"copied")
    sha = await storage.put_file(source)
    assert source.read_bytes() == b"copied"
    assert await storage.read_bytes(sha) == b"copied"

    moved = storage.staging_path(".bin")
    moved.write_bytes(b"moved" * 100_000)
    sha = await storage.put_file(moved, move=True)
    assert not moved.exists()
    assert sha == hashlib.sha256(b"moved" * 100_000).hexdigest()
    assert await storage.read_bytes(sha) == b"moved" * 100_000


async def test_put_file_move_of_content_already_stored_removes_the_source(
    storage: Storage,
) -> None:
    sha = await storage.put_bytes(b"same")
    staged = storage.staging_path()
    staged.write_bytes(b"same")
    assert await storage.put_file(staged, move=True) == sha
    assert not staged.exists()
    assert await storage.read_bytes(sha) == b"same"


async def test_staging_path_is_fresh_each_time(storage: Storage) -> None:
    paths = {storage.staging_path(".txt") for _ in range(20)}
    assert len(paths) == 20
    assert all(p.suffix == ".txt" and not p.exists() and p.parent.is_dir() for p in paths)


async def test_unknown_digest_raises_key_error(storage: Storage) -> None:
    with pytest.raises(KeyError):
        await storage.read_bytes(UNKNOWN_DIGEST)
    with pytest.raises(KeyError):
        await storage.local_path(UNKNOWN_DIGEST)


# -- artifacts -----------------------------------------------------------------------------------
async def test_get_artifact_returns_what_add_artifact_indexed(storage: Storage) -> None:
    artifact = make_artifact(
        1,
        name="report.csv",
        mime="text/csv",
        labels={"split": "test", "epoch": 3, "tags": ["x"]},
        metrics={"rows": 10.0},
        suggested_uri="file:///report.csv",
        pinned=True,
        run_id="r1",
        graph_id="g",
        node_id="n",
        session_id="s",
    )
    await storage.add_artifact(artifact)
    assert await storage.get_artifact("a1") == artifact
    assert await storage.get_artifact("unknown") is None


async def test_query_artifacts_is_newest_first(storage: Storage) -> None:
    for n in [2, 3, 1]:
        await storage.add_artifact(make_artifact(n))
    assert [a.id for a in await storage.query_artifacts()] == ["a3", "a2", "a1"]
    assert [a.id for a in await storage.query_artifacts(limit=1)] == ["a3"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("run_id", "r2"),
        ("session_id", "s2"),
        ("graph_id", "g2"),
        ("node_id", "n2"),
        ("kind", "model"),
        ("name", "weights.bin"),
        ("pinned", True),
    ],
)
async def test_query_artifacts_filters_by_field(storage: Storage, field: str, value: Any) -> None:
    await storage.add_artifact(make_artifact(1))
    await storage.add_artifact(make_artifact(2, **{field: value}))
    await storage.add_artifact(make_artifact(3))
    assert [a.id for a in await storage.query_artifacts(**{field: value})] == ["a2"]


async def test_query_artifacts_labels_must_all_be_present_and_equal(storage: Storage) -> None:
    await storage.add_artifact(make_artifact(1, labels={"split": "test", "epoch": 3}))
    await storage.add_artifact(make_artifact(2, labels={"split": "test"}))
    await storage.add_artifact(make_artifact(3, labels={"split": "train", "epoch": 3}))
    await storage.add_artifact(make_artifact(4, labels={"split": None, "cfg": {"lr": [0.1]}}))

    async def ids(labels: dict[str, Any]) -> list[str]:
        return [a.id for a in await storage.query_artifacts(labels=labels)]

    assert await ids({"split": "test", "epoch": 3}) == ["a1"]
    assert await ids({"split": "test"}) == ["a2", "a1"]
    assert await ids({"epoch": 3}) == ["a3", "a1"]
    assert await ids({"split": None}) == ["a4"]
    assert await ids({"cfg": {"lr": [0.1]}}) == ["a4"]
    assert await ids({"missing": None}) == []
    assert await ids({}) == ["a4", "a3", "a2", "a1"]


async def test_query_artifacts_with_labels_and_limit_returns_the_newest_matches(
    storage: Storage,
) -> None:
    for n in range(10):
        await storage.add_artifact(make_artifact(n, labels={"keep": n % 3 == 0}))
    found = await storage.query_artifacts(labels={"keep": True}, limit=2)
    assert [a.id for a in found] == ["a9", "a6"]


async def test_set_pinned_reports_whether_the_artifact_exists(storage: Storage) -> None:
    await storage.add_artifact(make_artifact(1))
    await storage.add_artifact(make_artifact(2))
    assert await storage.set_pinned("a1", True) is True
    assert await storage.set_pinned("unknown", True) is False
    assert [a.id for a in await storage.query_artifacts(pinned=True)] == ["a1"]
    assert [a.id for a in await storage.query_artifacts(pinned=False)] == ["a2"]
    assert await storage.set_pinned("a1", False) is True
    pinned = await storage.get_artifact("a1")
    assert pinned is not None
    assert pinned.pinned is False


# -- waits ---------------------------------------------------------------------------------------
async def test_get_wait_returns_what_put_wait_stored(storage: Storage) -> None:
    wait = make_wait(
        "w1",
        status=WaitStatus.ANSWERED,
        options=["yes", "no"],
        channel="slack",
        created_at=5.0,
        deadline=65.0,
        reply={"text": "yes", "by": "ana"},
    )
    await storage.put_wait(wait)
    got = await storage.get_wait("w1")
    assert got == wait
    assert got is not None
    assert type(got.status) is WaitStatus
    assert await storage.get_wait("unknown") is None


async def test_list_waits_filters_by_run_and_status_first_stored_first(storage: Storage) -> None:
    await storage.put_wait(make_wait("w1", "r1"))
    await storage.put_wait(make_wait("w2", "r2"))
    await storage.put_wait(make_wait("w3", "r1"))
    await storage.put_wait(make_wait("w1", "r1", status=WaitStatus.ANSWERED, reply={"ok": 1}))

    async def ids(**query: Any) -> list[str]:
        return [w.wait_id for w in await storage.list_waits(**query)]

    assert await ids() == ["w1", "w2", "w3"]
    assert await ids(run_id="r1") == ["w1", "w3"]
    assert await ids(status=WaitStatus.OPEN) == ["w2", "w3"]
    assert await ids(run_id="r1", status=WaitStatus.ANSWERED) == ["w1"]
    assert await ids(run_id="r3") == []


# -- lifecycle -----------------------------------------------------------------------------------
async def test_flush_and_close_are_idempotent(storage: Storage) -> None:
    await storage.put_run(make_run("r1"))
    await storage.flush()
    await storage.flush()
    assert await storage.get_run("r1") == make_run("r1")
    await storage.close()
    await storage.close()
    await storage.flush()
