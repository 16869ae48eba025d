"""SPEC section 2: graph_fn and tool, run and run_async, the output contract, the run record."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graph_fn, run, run_async, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import (
    ConfigurationError,
    InputValidationError,
    NodeTimeoutError,
    OutputContractError,
)
from aethergraph.runtime import RunStatus, get_run, get_run_async, list_runs_async
from tests.core.engine.conftest import block_forever

if TYPE_CHECKING:
    from pathlib import Path

    from aethergraph.testing import ManualClock


class Boom(Exception):
    """A user's own exception."""


async def nodes_of(run_id: str) -> list[Any]:
    return await current_runtime().storage().list_nodes(run_id)


# -- graph_fn and tool, sync and async ----------------------------------------------------------


@graph_fn
async def add_async(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b}


@graph_fn
def add_sync(a: int, b: int) -> dict[str, int]:
    return {"sum": a + b}


def test_sync_run_of_an_async_graph_fn_returns_its_outputs() -> None:
    assert run(add_async, {"a": 1, "b": 2}) == {"sum": 3}


def test_sync_run_of_a_sync_graph_fn_returns_its_outputs() -> None:
    assert run(add_sync, {"a": 1, "b": 2}) == {"sum": 3}


async def test_run_async_and_awaiting_the_graph_fn_agree() -> None:
    assert await run_async(add_sync, {"a": 2, "b": 3}) == {"sum": 5}
    assert await add_async(a=2, b=3) == {"sum": 5}
    assert await add_async(2, 3) == {"sum": 5}


@tool(outputs=["y"])
async def double_async(x: int) -> dict[str, int]:
    return {"y": x * 2}


@tool(outputs=["y"])
def double_sync(x: int) -> dict[str, int]:
    return {"y": x * 2}


def test_a_tool_can_be_run_directly() -> None:
    assert run(double_async, {"x": 4}) == {"y": 8}
    assert run(double_sync, {"x": 4}) == {"y": 8}


def test_a_tool_called_outside_any_run_is_the_plain_function() -> None:
    assert double_sync(5) == {"y": 10}


# -- a tool inside a graph_fn is a child node ---------------------------------------------------


@tool(outputs=["node_id", "run_id", "x"])
async def who_am_i(x: int, *, context: NodeContext) -> dict[str, Any]:
    return {"node_id": context.node_id, "run_id": context.run_id, "x": x}


@tool(outputs=["y"])
def sync_tool_with_context(x: int, *, context: NodeContext) -> dict[str, Any]:
    return {"y": x, "node": context.node_id}


@graph_fn
async def calls_tools(*, context: NodeContext) -> dict[str, Any]:
    injected = await who_am_i(1)
    explicit = await who_am_i(x=2, context=context)
    positional = await double_async(3)
    sync_child = await sync_tool_with_context(4)
    return {
        "root_node": context.node_id,
        "root_run": context.run_id,
        "injected": injected,
        "explicit": explicit,
        "positional": positional,
        "sync_child": sync_child,
    }


async def test_tool_inside_graph_fn_runs_as_a_child_node_with_its_own_record() -> None:
    out = await calls_tools()
    run_id = out["root_run"]
    assert out["injected"]["run_id"] == run_id
    node_ids = {out["injected"]["node_id"], out["explicit"]["node_id"], out["sync_child"]["node"]}
    assert len(node_ids) == 3
    assert out["root_node"] not in node_ids

    records = {n.node_id: n for n in await nodes_of(run_id)}
    assert node_ids <= set(records)
    injected = records[out["injected"]["node_id"]]
    assert injected.tool == "who_am_i"
    assert injected.status == "succeeded"
    assert injected.inputs == {"x": 1}
    assert injected.outputs == out["injected"]


async def test_context_passed_explicitly_to_a_tool_is_replaced_by_the_nodes_own() -> None:
    out = await calls_tools()
    assert out["explicit"]["node_id"] != out["root_node"]
    assert out["explicit"]["run_id"] == out["root_run"]


async def test_tools_accept_positional_arguments() -> None:
    out = await calls_tools()
    assert out["positional"] == {"y": 6}
    assert out["injected"]["x"] == 1
    records = await nodes_of(out["root_run"])
    assert {"x": 3} in [r.inputs for r in records if r.tool == "double_async"]


async def test_a_sync_tool_with_context_gets_a_context_too() -> None:
    out = await calls_tools()
    assert out["sync_child"]["y"] == 4
    assert out["sync_child"]["node"].startswith("sync_tool_with_context")


async def test_node_ids_of_repeated_tool_calls_are_unique_in_the_run() -> None:
    @graph_fn
    async def three_calls(*, context: NodeContext) -> dict[str, Any]:
        ids = [(await who_am_i(i))["node_id"] for i in range(3)]
        return {"ids": ids, "run_id": context.run_id}

    out = await three_calls()
    assert len(set(out["ids"])) == 3
    assert [n.node_id for n in await nodes_of(out["run_id"])] == out["ids"]


async def test_concurrent_tool_calls_inside_one_graph_fn_each_get_a_node() -> None:
    @graph_fn
    async def fan_out(*, context: NodeContext) -> dict[str, Any]:
        results = await asyncio.gather(*(who_am_i(i) for i in range(10)))
        return {"results": results, "run_id": context.run_id}

    out = await fan_out()
    assert [r["x"] for r in out["results"]] == list(range(10))
    assert len({r["node_id"] for r in out["results"]}) == 10


# -- child runs ---------------------------------------------------------------------------------


@graph_fn
async def child_graph(*, context: NodeContext) -> dict[str, Any]:
    return {
        "run_id": context.run_id,
        "parent_run_id": context.parent_run_id,
        "session_id": context.session_id,
    }


@graph_fn
async def parent_graph(*, context: NodeContext) -> dict[str, Any]:
    child = await child_graph()
    return {"run_id": context.run_id, "child": child}


async def test_graph_fn_awaited_inside_another_is_a_child_run() -> None:
    out = await parent_graph()
    child = out["child"]
    assert child["run_id"] != out["run_id"]
    assert child["parent_run_id"] == out["run_id"]
    record = await get_run_async(child["run_id"])
    assert record.parent_run_id == out["run_id"]
    assert record.graph_id == "child_graph"
    children = await list_runs_async(parent_run_id=out["run_id"])
    assert [r.run_id for r in children] == [child["run_id"]]


async def test_a_top_level_run_has_no_parent() -> None:
    out = await child_graph()
    assert out["parent_run_id"] is None


# -- context only -------------------------------------------------------------------------------


@graph_fn
async def only_context(*, context: NodeContext) -> dict[str, Any]:
    return {"graph_id": context.graph_id}


def test_graph_fn_with_only_context_runs_with_no_inputs() -> None:
    assert run(only_context) == {"graph_id": "only_context"}


def test_context_is_found_by_annotation_under_another_name() -> None:
    @graph_fn
    async def annotated(ctx: NodeContext) -> dict[str, Any]:
        return {"node": ctx.node_id}

    assert run(annotated) == {"node": "root"}


# -- the output contract ------------------------------------------------------------------------


def test_missing_declared_output_names_the_key_the_function_and_the_run() -> None:
    @graph_fn(outputs=["answer", "score"])
    async def forgetful() -> dict[str, Any]:
        return {"answer": 42}

    with pytest.raises(OutputContractError) as info:
        run(forgetful, run_id="run-contract-1")
    message = str(info.value)
    assert "'score'" in message
    assert "forgetful" in message
    assert "run-contract-1" in message


def test_missing_declared_output_of_a_tool_names_the_tool() -> None:
    @tool(outputs=["y"])
    async def bad_tool() -> dict[str, Any]:
        return {"z": 1}

    @graph_fn
    async def uses_bad_tool() -> dict[str, Any]:
        return await bad_tool()

    with pytest.raises(OutputContractError, match="bad_tool") as info:
        run(uses_bad_tool, run_id="run-contract-2")
    assert "'y'" in str(info.value)
    assert "run-contract-2" in str(info.value)


def test_single_non_dict_value_maps_onto_the_single_declared_output() -> None:
    @graph_fn(outputs=["answer"])
    async def one_output() -> int:
        return 42

    assert run(one_output) == {"answer": 42}


def test_non_dict_value_with_no_declared_outputs_is_the_result() -> None:
    @graph_fn
    async def undeclared() -> str:
        return "hi"

    assert run(undeclared) == {"result": "hi"}


def test_non_dict_value_with_several_declared_outputs_is_a_contract_error() -> None:
    @graph_fn(outputs=["a", "b"])
    async def two_outputs() -> int:
        return 1

    with pytest.raises(OutputContractError, match="two_outputs"):
        run(two_outputs)


def test_none_with_no_declared_outputs_is_no_outputs() -> None:
    @graph_fn
    async def nothing() -> None:
        return None

    assert run(nothing) == {}


# -- options and inputs -------------------------------------------------------------------------


def test_unknown_run_option_is_an_error_suggesting_the_close_name() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'session_id'"):
        run(add_sync, {"a": 1, "b": 2}, sesion_id="s")


def test_unknown_run_option_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown run option 'colour'"):
        run(add_sync, {"a": 1, "b": 2}, colour="red")


def test_unknown_input_is_an_input_validation_error_suggesting_the_close_name() -> None:
    with pytest.raises(InputValidationError, match=r"unknown input 'aa'.*did you mean 'a'"):
        run(add_sync, {"aa": 1, "b": 2})


def test_missing_input_is_an_input_validation_error_naming_it() -> None:
    with pytest.raises(InputValidationError, match="missing required input 'b'"):
        run(add_sync, {"a": 1})


def test_inputs_that_are_not_a_mapping_are_rejected() -> None:
    with pytest.raises(InputValidationError, match="mapping"):
        run(add_sync, [1, 2])  # type: ignore[arg-type]


def test_run_rejects_a_target_that_is_not_a_graph() -> None:
    with pytest.raises(ConfigurationError, match="graph_fn"):
        run(print)


# -- user exceptions ----------------------------------------------------------------------------


def test_user_exception_is_reraised_unchanged_with_a_note_naming_run_and_node() -> None:
    error = Boom("the user's error")

    @graph_fn
    async def fails() -> None:
        raise error

    with pytest.raises(Boom) as info:
        run(fails, run_id="run-boom-1")
    assert info.value is error
    assert str(info.value) == "the user's error"
    notes = info.value.__notes__
    assert len(notes) == 1
    assert "run-boom-1" in notes[0]
    assert "'root'" in notes[0]


def test_user_exception_in_a_tool_names_the_tools_node() -> None:
    error = Boom("in a tool")

    @tool
    async def exploding() -> None:
        raise error

    @graph_fn
    async def calls_exploding() -> None:
        await exploding()

    with pytest.raises(Boom) as info:
        run(calls_exploding, run_id="run-boom-2")
    assert info.value is error
    assert info.value.__notes__ == [
        "aethergraph: raised in run run-boom-2 (graph 'calls_exploding'), node 'exploding_1'"
    ]


async def test_failed_tool_node_is_recorded_failed_with_its_error() -> None:
    @tool
    async def exploding_tool() -> None:
        raise Boom("bad input")

    @graph_fn
    async def survives(*, context: NodeContext) -> dict[str, Any]:
        with pytest.raises(Boom):
            await exploding_tool()
        return {"run_id": context.run_id}

    out = await survives()
    (node,) = await nodes_of(out["run_id"])
    assert node.status == "failed"
    assert node.error == "Boom: bad input"


def test_builtin_exceptions_propagate_unchanged_too() -> None:
    @graph_fn
    async def key_error() -> None:
        {}["missing"]

    with pytest.raises(KeyError, match="missing"):
        run(key_error)


# -- the run record -----------------------------------------------------------------------------


def test_a_succeeded_run_is_recorded_with_inputs_and_outputs() -> None:
    run(add_sync, {"a": 1, "b": 2}, run_id="run-ok-1")
    record = get_run("run-ok-1")
    assert record.status is RunStatus.SUCCEEDED
    assert record.graph_id == "add_sync"
    assert record.inputs == {"a": 1, "b": 2}
    assert record.outputs == {"sum": 3}
    assert record.error is None
    assert record.finished_at is not None


def test_a_failed_run_is_recorded_with_the_error_text() -> None:
    @graph_fn
    async def fails_with_message() -> None:
        raise Boom("disk on fire")

    with pytest.raises(Boom):
        run(fails_with_message, run_id="run-fail-1")
    record = get_run("run-fail-1")
    assert record.status is RunStatus.FAILED
    assert record.error == "Boom: disk on fire"
    assert record.outputs is None


def test_run_with_the_id_of_a_succeeded_run_returns_stored_outputs_without_executing() -> None:
    calls: list[int] = []

    @graph_fn
    async def counted(x: int) -> dict[str, int]:
        calls.append(x)
        return {"x": x}

    assert run(counted, {"x": 1}, run_id="run-once-1") == {"x": 1}
    assert run(counted, {"x": 1}, run_id="run-once-1") == {"x": 1}
    assert calls == [1]


def test_run_with_an_id_of_another_graph_is_refused() -> None:
    run(add_sync, {"a": 1, "b": 2}, run_id="run-other-1")
    with pytest.raises(ConfigurationError, match="add_sync"):
        run(only_context, run_id="run-other-1")


def test_a_failed_run_id_executes_again() -> None:
    attempts: list[int] = []

    @graph_fn
    async def flaky() -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise Boom("first time")
        return {"n": len(attempts)}

    with pytest.raises(Boom):
        run(flaky, run_id="run-flaky-1")
    assert run(flaky, run_id="run-flaky-1") == {"n": 2}
    assert get_run("run-flaky-1").status is RunStatus.SUCCEEDED


# -- sessions -----------------------------------------------------------------------------------


async def test_session_id_is_recorded_and_inherited_by_child_runs() -> None:
    out = await run_async(parent_graph, session_id="session-a")
    assert out["child"]["session_id"] == "session-a"
    in_session = await list_runs_async(session_id="session-a")
    assert {r.run_id for r in in_session} == {out["run_id"], out["child"]["run_id"]}
    assert await list_runs_async(session_id="session-b") == []


async def test_runs_without_a_session_have_none() -> None:
    out = await child_graph()
    assert out["session_id"] is None
    assert (await get_run_async(out["run_id"])).session_id is None


# -- sync run inside a loop ---------------------------------------------------------------------


async def test_sync_run_inside_a_running_loop_runs_on_another_loop_and_returns() -> None:
    assert run(add_sync, {"a": 1, "b": 2}) == {"sum": 3}  # as in a notebook cell


async def test_sync_run_called_from_a_graph_fn_is_a_clear_error() -> None:
    @graph_fn
    async def nested_sync_run() -> dict[str, Any]:
        return run(add_sync, {"a": 1, "b": 2})

    with pytest.raises(ConfigurationError, match="event loop is already running"):
        await nested_sync_run()


# -- node policies: a tool's timeout_s and retry, the run's max_concurrency and retry ------------


too_slow_entered = asyncio.Event()


@tool(outputs=["y"], timeout_s=0.1)
async def too_slow() -> dict[str, Any]:
    await block_forever(too_slow_entered)
    return {"y": 1}


async def test_a_tools_timeout_s_applies_to_its_node_inside_a_graph_fn(clock: ManualClock) -> None:
    @graph_fn
    async def calls_too_slow() -> dict[str, Any]:
        return await too_slow()

    too_slow_entered.clear()
    running = asyncio.ensure_future(run_async(calls_too_slow, run_id="run-tool-timeout"))
    await too_slow_entered.wait()
    clock.advance(0.1)
    with pytest.raises(NodeTimeoutError, match=r"'too_slow_1'.*timeout_s=0\.1") as info:
        await running
    assert "node 'too_slow_1'" in info.value.__notes__[0]
    assert (await get_run_async("run-tool-timeout")).status is RunStatus.FAILED


async def test_a_timeout_error_raised_by_the_tool_itself_is_not_its_timeout() -> None:
    error = TimeoutError("the remote API timed out")

    @tool(outputs=["y"], timeout_s=5)
    async def remote_call() -> dict[str, Any]:
        raise error

    @graph_fn
    async def calls_remote() -> dict[str, Any]:
        return await remote_call()

    with pytest.raises(TimeoutError) as info:
        await calls_remote()
    assert info.value is error


async def test_a_tools_retry_applies_to_its_node_inside_a_graph_fn() -> None:
    attempts: list[int] = []

    @tool(outputs=["n"], retry=3)
    async def third_time_lucky() -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return {"n": len(attempts)}

    @graph_fn
    async def retries(*, context: NodeContext) -> dict[str, Any]:
        return {**(await third_time_lucky()), "run_id": context.run_id}

    out = await retries()
    assert out["n"] == 3
    (node,) = await nodes_of(out["run_id"])
    assert node.status == "succeeded"
    assert node.attempts == 3


async def test_the_run_retry_option_retries_tool_nodes() -> None:
    attempts: list[int] = []

    @tool(outputs=["n"])
    async def second_time_lucky() -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("flaky")
        return {"n": len(attempts)}

    @graph_fn
    async def run_level_retry() -> dict[str, Any]:
        return await second_time_lucky()

    assert await run_async(run_level_retry, retry=2) == {"n": 2}


async def test_max_concurrency_limits_concurrent_tool_nodes_of_a_run() -> None:
    inside = 0
    peak = 0

    @tool(outputs=["ok"])
    async def busy() -> dict[str, Any]:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        return {"ok": True}

    @graph_fn
    async def many_busy() -> dict[str, Any]:
        await asyncio.gather(*(busy() for _ in range(12)))
        return {}

    await run_async(many_busy, max_concurrency=3)
    assert peak == 3


async def test_the_workspace_option_keeps_the_run_in_that_workspace(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    await run_async(add_sync, {"a": 1, "b": 1}, run_id="run-elsewhere", workspace=other)
    assert (other / "aethergraph.db").exists()
    assert (await get_run_async("run-elsewhere", workspace=other)).outputs == {"sum": 2}
    assert [r.run_id for r in await list_runs_async(workspace=other)] == ["run-elsewhere"]
    assert await list_runs_async() == []


async def test_a_timeout_error_the_graph_raises_itself_is_not_mistaken_for_the_run_timeout() -> (
    None
):
    @graph_fn(name="raises_its_own_timeout")
    async def raises_its_own_timeout() -> None:
        raise TimeoutError

    with pytest.raises(TimeoutError) as info:
        await run_async(raises_its_own_timeout, timeout_s=30)
    assert type(info.value) is TimeoutError
