"""SPEC section 4 through NodeContext: logger, kv, memory and artifacts are scoped to the node."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aethergraph import NodeContext, graph_fn, run, run_async, tool
from aethergraph.core.engine.runtime import current_runtime

if TYPE_CHECKING:
    import pytest

# -- logger -------------------------------------------------------------------------------------


@tool(outputs=["node_id"])
async def logs_in_a_tool(*, context: NodeContext) -> dict[str, Any]:
    context.logger().info("tool says %s", "hello", extra={"step": 2})
    return {"node_id": context.node_id}


@graph_fn
async def logs(*, context: NodeContext) -> dict[str, Any]:
    context.logger().info("root starts", extra={"step": 1})
    child = await logs_in_a_tool()
    context.logger().debug("not kept below INFO")
    return {"run_id": context.run_id, "tool_node": child["node_id"]}


def test_logger_records_carry_run_graph_and_node_ids(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aethergraph"):
        out = run(logs)
    records = [r for r in caplog.records if r.name.startswith("aethergraph.")]
    by_message = {r.getMessage(): r for r in records}
    root = by_message["root starts"]
    assert (root.run_id, root.graph_id, root.node_id) == (out["run_id"], "logs", "root")  # type: ignore[attr-defined]
    assert root.step == 1  # type: ignore[attr-defined]
    child = by_message["tool says hello"]
    assert child.node_id == out["tool_node"]  # type: ignore[attr-defined]
    assert child.run_id == out["run_id"]  # type: ignore[attr-defined]
    assert child.step == 2  # type: ignore[attr-defined]


def test_logger_is_under_the_aethergraph_hierarchy() -> None:
    @graph_fn
    async def logger_name(*, context: NodeContext) -> dict[str, Any]:
        log = context.logger()
        assert isinstance(log, logging.LoggerAdapter)
        return {"name": log.logger.name}

    assert run(logger_name)["name"].startswith("aethergraph")


async def test_log_records_are_kept_with_the_run() -> None:
    out = await logs()
    kept = await current_runtime().storage().list_logs(out["run_id"])
    assert [e.message for e in kept] == ["root starts", "tool says hello"]
    assert [e.node_id for e in kept] == ["root", out["tool_node"]]
    assert all(e.graph_id == "logs" and e.level == "INFO" for e in kept)
    assert kept[0].extra["step"] == 1


# -- kv -----------------------------------------------------------------------------------------


@graph_fn
async def kv_writer(key: str, value: Any, *, context: NodeContext) -> None:
    await context.kv().set(key, value)


@graph_fn
async def kv_reader(key: str, *, context: NodeContext) -> dict[str, Any]:
    return {"value": await context.kv().get(key, "absent")}


def test_kv_values_roundtrip_between_runs() -> None:
    run(kv_writer, {"key": "model", "value": {"name": "m1", "layers": [1, 2]}})
    assert run(kv_reader, {"key": "model"}) == {"value": {"name": "m1", "layers": [1, 2]}}
    assert run(kv_reader, {"key": "other"}) == {"value": "absent"}


async def test_kv_offers_the_documented_operations() -> None:
    @graph_fn
    async def kv_ops(*, context: NodeContext) -> dict[str, Any]:
        kv = context.kv()
        await kv.mset({"p:a": 1, "p:b": 2, "q": 3})
        counted = await kv.incr("counter")
        counted = await kv.incr("counter", 5)
        deleted = await kv.delete("q")
        return {
            "mget": await kv.mget(["p:a", "p:b", "q"]),
            "scan": await kv.scan_keys("p:"),
            "counter": counted,
            "deleted": deleted,
        }

    out = await kv_ops()
    assert out == {"mget": [1, 2, None], "scan": ["p:a", "p:b"], "counter": 6, "deleted": True}


# -- memory -------------------------------------------------------------------------------------


@graph_fn
async def remember(text: str, *, context: NodeContext) -> dict[str, Any]:
    event = await context.memory().record("note", {"text": text}, text=text, tags=["t"])
    return {"event": event.to_json(), "run_id": context.run_id}


@graph_fn
async def recall(*, context: NodeContext) -> dict[str, Any]:
    return {"texts": [e.text for e in await context.memory().recent(kinds=["note"])]}


async def test_memory_events_are_scoped_to_the_session_when_given() -> None:
    await run_async(remember, {"text": "alpha one"}, session_id="s1")
    await run_async(remember, {"text": "beta two"}, session_id="s1")
    await run_async(remember, {"text": "gamma three"}, session_id="s2")

    assert await run_async(recall, session_id="s1") == {"texts": ["alpha one", "beta two"]}
    assert await run_async(recall, session_id="s2") == {"texts": ["gamma three"]}
    assert await run_async(recall, session_id="s3") == {"texts": []}


async def test_memory_without_a_session_is_scoped_to_the_run() -> None:
    await remember(text="first run")

    @graph_fn
    async def remember_and_recall(*, context: NodeContext) -> dict[str, Any]:
        await context.memory().record("note", "own note", text="own note")
        return {"texts": [e.text for e in await context.memory().recent()]}

    assert await remember_and_recall() == {"texts": ["own note"]}


async def test_memory_event_records_its_provenance_and_is_json() -> None:
    out = await run_async(remember, {"text": "provenance"}, session_id="s-prov")
    event = out["event"]
    assert event["run_id"] == out["run_id"]
    assert event["graph_id"] == "remember"
    assert event["node_id"] == "root"
    assert event["session_id"] == "s-prov"
    assert event["kind"] == "note"
    assert event["tags"] == ["t"]
    for key in ("id", "ts", "topic", "data", "text", "metrics", "inputs", "outputs"):
        assert key in event
    json.dumps(event)


async def test_memory_search_and_tool_results_within_a_run() -> None:
    @graph_fn
    async def searches(*, context: NodeContext) -> dict[str, Any]:
        mem = context.memory()
        await mem.record("note", "the quick brown fox")
        await mem.record("note", "a lazy dog")
        await mem.write_result("train", outputs={"loss": 0.5}, metrics={"loss": 0.5})
        return {
            "found": [e.text for e in await mem.search("brown fox")],
            "last_loss": await mem.last_by_name("loss"),
            "topic": await mem.get_last_outputs_for_topic("train"),
        }

    out = await searches()
    assert out["found"] == ["the quick brown fox"]
    assert out["last_loss"] == 0.5
    assert out["topic"] == {"loss": 0.5}


# -- artifacts ----------------------------------------------------------------------------------


@tool(outputs=["artifact", "node_id"])
async def saves_report(text: str, *, context: NodeContext) -> dict[str, Any]:
    artifact = await context.artifacts().save_text(text, name="report.txt", labels={"k": "v"})
    return {"artifact": artifact.to_json(), "node_id": context.node_id}


@graph_fn
async def reporting(text: str, *, context: NodeContext) -> dict[str, Any]:
    saved = await saves_report(text)
    loaded = await context.artifacts().load_text(saved["artifact"]["id"])
    listed = [a.id for a in await context.artifacts().list(scope="run")]
    return {**saved, "loaded": loaded, "listed": listed, "run_id": context.run_id}


async def test_an_artifact_records_the_run_graph_and_node_that_saved_it() -> None:
    out = await reporting(text="quarterly numbers")
    artifact = out["artifact"]
    assert artifact["run_id"] == out["run_id"]
    assert artifact["graph_id"] == "reporting"
    assert artifact["node_id"] == out["node_id"]
    assert artifact["node_id"] != "root"
    assert out["loaded"] == "quarterly numbers"
    assert out["listed"] == [artifact["id"]]


async def test_artifacts_are_content_addressed() -> None:
    first = await reporting(text="same bytes")
    second = await reporting(text="same bytes")
    assert first["artifact"]["sha256"] == second["artifact"]["sha256"]
    assert first["artifact"]["id"] != second["artifact"]["id"]
