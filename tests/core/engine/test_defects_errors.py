"""Issue 9, defects 4, 7, 8 and 9: mistakes end in errors from the error tree that say how to fix
them, and lookups of unknown ids behave alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aethergraph import Service, graph_fn, graphify, register_context_service, run, run_async, tool
from aethergraph.errors import (
    ArtifactNotFoundError,
    ConfigurationError,
    GraphDefinitionError,
    InputValidationError,
    OutputContractError,
    RunCancelledError,
    RunNotFoundError,
    ServiceNotFoundError,
)
from aethergraph.runtime import (
    NodeStatus,
    RunStatus,
    cancel_run_async,
    get_ext_context_service,
    get_run_async,
    list_logs,
    list_nodes,
    list_nodes_async,
    list_runs_async,
    list_waits,
    override_context_service,
    read_artifact,
)
from aethergraph.testing import start_run

pytestmark = pytest.mark.usefixtures("backend")  # SQLite workspace and memory alike


class Notes(Service):
    def __init__(self) -> None:
        super().__init__()
        self.saved: list[str] = []

    async def save(self, text: str) -> None:
        self.saved.append(text)


# -- defect 4: a sync body that drops a coroutine ------------------------------------------------


def test_a_sync_graph_fn_that_does_not_await_a_service_call_fails_saying_await_it(
    register: Any,
) -> None:
    notes = Notes()
    register("notes", notes)

    @graph_fn(name="forgets")
    def forgets(*, context: Any) -> dict[str, int]:
        context.notes().save("lost")
        return {"ok": 1}

    with pytest.raises(GraphDefinitionError, match=r"'Notes.save'.*`async def` and `await`"):
        run(forgets)
    assert notes.saved == []


async def test_a_sync_tool_that_does_not_await_a_memory_write_fails_its_node() -> None:
    @tool(outputs=["ok"])
    def records(*, context: Any) -> int:
        context.memory().record("note", {"a": 1})
        return 1

    @graph_fn(name="calls_records")
    async def calls_records() -> dict[str, Any]:
        return await records()

    with pytest.raises(GraphDefinitionError, match="never ran"):
        await run_async(calls_records)
    (record,) = await list_runs_async()
    (node,) = await list_nodes_async(record.run_id)
    assert node.status is NodeStatus.FAILED
    assert record.status is RunStatus.FAILED


async def test_returning_a_tool_call_without_await_names_the_tool() -> None:
    @tool(outputs=["y"])
    async def inc(x: int) -> int:
        return x + 1

    @graph_fn(name="no_await")
    async def no_await() -> dict[str, Any]:
        return {"y": inc(x=1)}

    with pytest.raises(OutputContractError, match=r"tool 'inc'.*never awaited.*`await inc\(...\)`"):
        await run_async(no_await)


# -- defect 7: reserved names never advise an impossible fix -------------------------------------


def test_looking_up_a_built_in_in_the_service_registry_says_it_is_a_built_in() -> None:
    for name in ("llm", "mcp", "memory"):
        with pytest.raises(ServiceNotFoundError, match=rf"built-in: use context.{name}\(\)") as e:
            get_ext_context_service(name)
        assert "Register one" not in str(e.value)


def test_looking_up_an_unregistrable_name_says_why_it_cannot_be_registered() -> None:
    with pytest.raises(ServiceNotFoundError, match=r"cannot be registered.*NodeContext field"):
        get_ext_context_service("run_id")


# -- defect 8: one behaviour for unknown ids, one error for cancelled runs ------------------------


def test_the_nodes_and_logs_of_an_unknown_run_raise_run_not_found_like_get_run() -> None:
    for lister in (list_nodes, list_logs):
        with pytest.raises(RunNotFoundError, match=r"no run 'nope'.*list_runs"):
            lister("nope")
    assert list_waits(run_id="nope") == []  # a filter, as list_runs(graph_id=...) is


def test_reading_an_unknown_artifact_raises_artifact_not_found() -> None:
    with pytest.raises(ArtifactNotFoundError, match="no artifact 'nope'") as caught:
        read_artifact("nope")
    assert isinstance(caught.value, KeyError)


entered: dict[str, asyncio.Event] = {}


@tool(outputs=["x"])
async def waits_forever() -> int:
    entered["tool"].set()
    await asyncio.Event().wait()
    return 1


@graph_fn(name="cancelled_fn")
async def cancelled_fn() -> dict[str, Any]:
    return await waits_forever()


@graphify(name="cancelled_graph", outputs=["x"])
def cancelled_graph() -> Any:
    return {"x": waits_forever().x}


@pytest.mark.parametrize("target", [cancelled_fn, cancelled_graph()], ids=["graph_fn", "graphify"])
async def test_rerunning_a_cancelled_run_raises_run_cancelled_for_every_kind(target: Any) -> None:
    entered["tool"] = asyncio.Event()
    handle = await start_run(target, run_id="to-cancel")
    await asyncio.wait_for(entered["tool"].wait(), 10)
    await cancel_run_async("to-cancel")
    with pytest.raises(RunCancelledError):
        await handle.result()
    assert (await get_run_async("to-cancel")).status is RunStatus.CANCELLED
    with pytest.raises(RunCancelledError, match="was cancelled; start a new run"):
        await run_async(target, run_id="to-cancel")


# -- defect 9: errors that say how to fix --------------------------------------------------------


def test_a_context_parameter_named_ctx_is_told_to_be_named_context() -> None:
    @graph_fn(name="uses_ctx")
    async def uses_ctx(ctx) -> None:  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(InputValidationError, match=r"'ctx'.*name the parameter `context`"):
        run(uses_ctx)


def test_registering_a_class_instead_of_an_instance_is_refused_at_registration() -> None:
    with pytest.raises(ConfigurationError, match=r"class Notes, not an instance.*Notes\(...\)"):
        register_context_service("notes", Notes)
    with (
        pytest.raises(ConfigurationError, match="not an instance"),
        override_context_service("notes", Notes),
    ):
        pass


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_wrong_tool_keyword_in_a_graph_fn_suggests_the_close_name(sync: bool) -> None:
    if sync:

        @tool(outputs=["y"], name="scales")
        def scales(value: int, factor: int = 2) -> int:
            return value * factor

    else:

        @tool(outputs=["y"], name="scales")
        async def scales(value: int, factor: int = 2) -> int:
            return value * factor

    @graph_fn(name="misspells")
    async def misspells() -> dict[str, Any]:
        return await scales(value=2, facter=3)

    with pytest.raises(InputValidationError, match=r"'facter'; did you mean 'factor'"):
        await run_async(misspells)
    (record,) = await list_runs_async()
    (node,) = await list_nodes_async(record.run_id)
    assert node.status is NodeStatus.FAILED


async def test_a_type_error_inside_a_tool_is_the_users_own() -> None:
    @tool(outputs=["y"])
    async def breaks(value: Any) -> int:
        return len(value)

    @graph_fn(name="calls_breaks")
    async def calls_breaks() -> dict[str, Any]:
        return await breaks(value=3)

    with pytest.raises(TypeError, match="has no len"):
        await run_async(calls_breaks)
