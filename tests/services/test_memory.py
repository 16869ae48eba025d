"""Memory: an append-only event log with provenance, scoped to the session or the run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.services.memory import Memory
from tests.services.conftest import Scope

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage


@pytest.fixture
def memory(store: Storage, scope: Scope) -> Memory:
    return Memory(scope, store)


async def test_record_stamps_identity_and_provenance(store: Storage) -> None:
    mem = Memory(Scope(session_id="s1"), store)
    event = await mem.record("note", {"a": 1}, tags=["x"], metrics={"loss": 1}, topic="t")
    assert len(event.id) == 32
    assert event.ts > 0
    assert event.scope_id == "s1"
    assert (event.run_id, event.graph_id, event.node_id, event.session_id) == (
        "run-1",
        "graph-1",
        "node-1",
        "s1",
    )
    assert event.metrics == {"loss": 1.0}
    assert event.topic == "t"
    (stored,) = await mem.recent()
    assert stored.to_json() == event.to_json()
    json.dumps(stored.to_json())


async def test_record_scope_is_the_run_without_a_session(memory: Memory) -> None:
    event = await memory.record("note", "hello")
    assert event.scope_id == "run-1"
    assert memory.scope_id == "run-1"


async def test_record_derives_text_from_the_data(memory: Memory) -> None:
    assert (await memory.record("note", "plain words")).text == "plain words"
    assert (await memory.record("note", {"city": "Paris"})).text == '{"city": "Paris"}'
    assert (await memory.record("note")).text is None
    assert (await memory.record("note", {"a": 1}, text="own")).text == "own"


async def test_record_stores_the_json_round_trip_of_data(memory: Memory) -> None:
    event = await memory.record("note", {"t": (1, 2)})
    assert event.data == {"t": [1, 2]}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kind": ""}, ValueError, "kind"),
        ({"kind": 3}, TypeError, "kind"),
        ({"data": {1, 2}}, TypeError, "data"),
        ({"tags": [1]}, TypeError, "tags"),
        ({"metrics": {"loss": "low"}}, TypeError, "loss"),
        ({"metrics": {"ok": True}}, TypeError, "ok"),
        ({"metrics": {"inf": float("inf")}}, ValueError, "inf"),
        ({"metrics": [1]}, TypeError, "metrics"),
        ({"text": b"bytes"}, TypeError, "text"),
        ({"topic": 5}, TypeError, "topic"),
    ],
)
async def test_record_rejects_bad_fields(
    memory: Memory, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"kind": "note", **kwargs}
    with pytest.raises(error, match=match):
        await memory.record(args.pop("kind"), **args)
    assert await memory.recent() == []


async def test_record_accepts_a_single_tag_string(memory: Memory) -> None:
    event = await memory.record("note", tags="solo")
    assert event.tags == ["solo"]


async def test_write_result_accepts_the_seed_list_form(memory: Memory) -> None:
    event = await memory.write_result(
        topic="trainer.submit",
        outputs=[{"name": "job_id", "kind": "text", "value": "job-42"}],
    )
    assert event.kind == "tool_result"
    assert event.topic == "trainer.submit"
    assert event.outputs == [{"name": "job_id", "kind": "text", "value": "job-42"}]
    assert event.data == {"job_id": "job-42"}


async def test_write_result_normalises_a_plain_dict(memory: Memory) -> None:
    event = await memory.write_result(
        "fit", inputs={"lr": 0.1}, outputs={"loss": 0.5, "name": "m", "cfg": {"a": 1}}
    )
    assert event.inputs == [{"name": "lr", "kind": "number", "value": 0.1}]
    assert event.outputs == [
        {"name": "loss", "kind": "number", "value": 0.5},
        {"name": "name", "kind": "text", "value": "m"},
        {"name": "cfg", "kind": "json", "value": {"a": 1}},
    ]


async def test_write_result_text_has_message_topic_and_outputs(memory: Memory) -> None:
    event = await memory.write_result(
        "trainer.submit", outputs={"job_id": "job-42"}, message="submitted nightly"
    )
    assert event.text is not None
    for part in ("submitted nightly", "trainer.submit", "job_id", "job-42"):
        assert part in event.text
    assert [e.id for e in await memory.search("nightly job")] == [event.id]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"topic": ""}, ValueError, "topic"),
        ({"outputs": "x"}, TypeError, "outputs"),
        ({"outputs": [{"value": 1}]}, TypeError, "name"),
        ({"outputs": [{"name": "a", "value": object()}]}, TypeError, "'a'"),
        ({"inputs": [{"name": ""}]}, TypeError, "inputs"),
        ({"message": 1}, TypeError, "message"),
        ({"metrics": {"m": "x"}}, TypeError, "'m'"),
    ],
)
async def test_write_result_rejects_bad_fields(
    memory: Memory, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"topic": "t", **kwargs}
    with pytest.raises(error, match=match):
        await memory.write_result(args.pop("topic"), **args)


async def test_recent_returns_the_newest_oldest_first(memory: Memory) -> None:
    for i in range(5):
        await memory.record("n", i)
    assert [e.data for e in await memory.recent(limit=3)] == [2, 3, 4]
    assert await memory.recent_data(limit=2) == [3, 4]


async def test_recent_filters_by_kind(memory: Memory) -> None:
    await memory.record("a", 1)
    await memory.record("b", 2)
    await memory.record("a", 3)
    assert await memory.recent_data(kinds=["a"]) == [1, 3]
    assert await memory.recent_data(kinds="b") == [2]


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
async def test_recent_rejects_a_bad_limit(memory: Memory, limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        await memory.recent(limit=limit)


async def test_recent_sees_only_its_own_scope(store: Storage) -> None:
    in_session_a = Memory(Scope(run_id="r1", session_id="sa"), store)
    same_session = Memory(Scope(run_id="r2", session_id="sa"), store)
    other_run = Memory(Scope(run_id="r3"), store)
    await in_session_a.record("n", "from r1")
    await other_run.record("n", "from r3")
    assert await same_session.recent_data() == ["from r1"]
    assert await other_run.recent_data() == ["from r3"]


async def test_last_by_name_returns_the_newest_output_value(memory: Memory) -> None:
    await memory.write_result("a", outputs={"job_id": "j1"})
    await memory.write_result("b", outputs={"other": 1})
    await memory.write_result("c", outputs=[{"name": "job_id", "kind": "text", "value": "j2"}])
    await memory.write_result("d", outputs={"x": "mentions job_id in a value"})
    assert await memory.last_by_name("job_id") == "j2"
    assert await memory.last_by_name("other") == 1
    assert await memory.last_by_name("missing") is None


async def test_last_by_name_finds_names_without_word_characters(memory: Memory) -> None:
    await memory.write_result("a", outputs={"!!": "odd"})
    assert await memory.last_by_name("!!") == "odd"


async def test_last_by_name_returns_a_stored_none(memory: Memory) -> None:
    await memory.write_result("a", outputs={"v": 1})
    await memory.write_result("a", outputs={"v": None})
    assert await memory.last_by_name("v") is None


async def test_last_by_name_rejects_an_empty_name(memory: Memory) -> None:
    with pytest.raises(ValueError, match="name"):
        await memory.last_by_name("")


async def test_get_last_outputs_for_topic(memory: Memory) -> None:
    await memory.write_result("fit", outputs={"loss": 0.9})
    await memory.write_result("other", outputs={"loss": 0.1})
    await memory.write_result("fit", outputs={"loss": 0.5, "acc": 0.8})
    assert await memory.get_last_outputs_for_topic("fit") == {"loss": 0.5, "acc": 0.8}
    assert await memory.get_last_outputs_for_topic("none") is None


async def test_get_last_outputs_for_topic_ignores_other_kinds(memory: Memory) -> None:
    await memory.record("note", "x", topic="fit")
    assert await memory.get_last_outputs_for_topic("fit") is None


async def test_search_matches_every_word_of_the_query(memory: Memory) -> None:
    await memory.record("note", "the quick brown fox")
    await memory.record("note", "the lazy dog")
    await memory.record("note", {"animal": "fox", "speed": "slow"})
    found = await memory.search("fox")
    assert [e.data for e in found] == ["the quick brown fox", {"animal": "fox", "speed": "slow"}]
    assert [e.data for e in await memory.search("quick fox")] == ["the quick brown fox"]
    assert await memory.search("cat") == []


async def test_search_filters_by_kinds_and_tags(memory: Memory) -> None:
    await memory.record("a", "alpha", tags=["x", "y"])
    await memory.record("b", "alpha", tags=["x"])
    assert [e.kind for e in await memory.search("alpha", tags=["x", "y"])] == ["a"]
    assert [e.kind for e in await memory.search(kinds=["b"])] == ["b"]
    assert len(await memory.search(limit=1)) == 1


async def test_search_rejects_a_non_str_query(memory: Memory) -> None:
    with pytest.raises(TypeError, match="query"):
        await memory.search(3)  # type: ignore[arg-type]


async def test_every_write_is_flushed(store: Storage) -> None:
    flushes = 0
    real_flush = store.flush

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def flush(self) -> None:
            nonlocal flushes
            flushes += 1
            await real_flush()

    mem = Memory(Scope(), Counting())
    await mem.record("n", 1)
    await mem.write_result("t", outputs={"a": 1})
    assert flushes == 2
    await mem.recent()
    await mem.search("a")
    await mem.last_by_name("a")
    assert flushes == 2
