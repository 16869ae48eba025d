"""Issue 9, defects 1, 16, 18 and 10: run and node payloads are JSON, checked once, the same way
on every backend; inputs are checked against the function's annotations."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
from typing import Any, Protocol

import pydantic
import pytest

from aethergraph import graph_fn, graphify, run, run_async, tool
from aethergraph.errors import InputValidationError, OutputContractError
from aethergraph.runtime import NodeStatus, RunStatus, list_nodes_async, list_runs_async


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Colour(enum.Enum):
    RED = "red"


class Model(pydantic.BaseModel):
    name: str
    n: int


WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


async def only_run() -> Any:
    (record,) = await list_runs_async()
    return record


# -- defect 1: outputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ((1, (2, 3)), [1, [2, 3]]),
        (WHEN, "2026-01-02T03:04:05+00:00"),
        (datetime.date(2026, 1, 2), "2026-01-02"),
        (Point(1, 2), {"x": 1, "y": 2}),
        (Model(name="a", n=1), {"name": "a", "n": 1}),
        (Colour.RED, "red"),
        ({1: "a", None: "b"}, {"1": "a", "null": "b"}),
    ],
    ids=["set", "frozenset", "tuple", "datetime", "date", "dataclass", "pydantic", "enum", "keys"],
)
async def test_graph_fn_outputs_with_an_obvious_json_form_are_stored_converted(
    backend: str, value: Any, stored: Any
) -> None:
    @graph_fn(name="converts")
    async def converts() -> dict[str, Any]:
        return {"value": value}

    assert await run_async(converts) == {"value": stored}
    record = await only_run()
    assert record.status is RunStatus.SUCCEEDED
    assert record.outputs == {"value": stored}


async def test_a_memory_event_output_is_stored_as_its_json_dict(backend: str) -> None:
    @graph_fn(name="remembers")
    async def remembers(context: Any) -> dict[str, Any]:
        event = await context.memory().record("note", {"a": 1})
        return {"event": event}

    outputs = await run_async(remembers)
    assert outputs["event"]["kind"] == "note"
    assert outputs["event"]["data"] == {"a": 1}
    assert (await only_run()).outputs == outputs


async def test_a_graph_fn_output_with_no_json_form_fails_the_run_naming_run_node_key_type(
    backend: str,
) -> None:
    @graph_fn(name="returns_bytes")
    async def returns_bytes() -> dict[str, Any]:
        return {"ok": 1, "blob": {"inner": [b"raw"]}}

    with pytest.raises(OutputContractError) as caught:
        await run_async(returns_bytes)
    record = await only_run()
    message = str(caught.value)
    assert "returns_bytes" in message
    assert "'root'" in message
    assert record.run_id in message
    assert "'blob'['inner'][0]" in message
    assert "bytes" in message
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert "OutputContractError" in record.error


async def test_a_tool_output_with_no_json_form_fails_its_node_and_the_run(backend: str) -> None:
    @tool(outputs=["handle"])
    async def opens() -> object:
        return object()

    @graph_fn(name="uses_opens")
    async def uses_opens() -> dict[str, Any]:
        return await opens()

    with pytest.raises(OutputContractError, match=r"tool 'opens'.*'opens_1'.*'handle'.*object"):
        await run_async(uses_opens)
    record = await only_run()
    assert record.status is RunStatus.FAILED
    (node,) = await list_nodes_async(record.run_id)
    assert node.status is NodeStatus.FAILED
    assert node.error is not None
    assert "OutputContractError" in node.error


async def test_a_tool_set_output_is_stored_as_a_sorted_list_in_a_task_graph(backend: str) -> None:
    @tool(outputs=["items"])
    async def collects() -> set[int]:
        return {2, 1}

    @graphify(name="collects_graph", outputs=["items"])
    def collects_graph() -> Any:
        return {"items": collects().items}

    assert await run_async(collects_graph()) == {"items": [1, 2]}
    record = await only_run()
    assert record.status is RunStatus.SUCCEEDED


async def test_a_tool_input_with_no_json_form_is_refused_naming_the_tool_and_input(
    backend: str,
) -> None:
    @tool(outputs=["n"])
    async def takes(x: Any) -> int:
        return 1

    @graph_fn(name="passes_bytes")
    async def passes_bytes() -> dict[str, Any]:
        return await takes(x=b"raw")

    with pytest.raises(InputValidationError, match=r"tool 'takes'.*input 'x' is a bytes"):
        await run_async(passes_bytes)
    assert (await only_run()).status is RunStatus.FAILED


async def test_a_run_with_a_non_json_input_fails_before_it_starts_naming_the_input(
    backend: str,
) -> None:
    called = []

    @graph_fn(name="takes_anything")
    async def takes_anything(x: Any) -> None:
        called.append(x)

    with pytest.raises(InputValidationError, match=r"'takes_anything'.*input 'x'\[0\] is a bytes"):
        await run_async(takes_anything, {"x": [b"raw"]})
    assert called == []
    assert await list_runs_async() == []


async def test_inputs_nested_deeper_than_the_limit_are_refused_at_the_start(backend: str) -> None:
    @graph_fn(name="deep")
    async def deep(x: Any) -> None:
        return None

    value: Any = 1
    for _ in range(975):
        value = [value]
    with pytest.raises(InputValidationError, match="nested deeper than 100 levels"):
        await run_async(deep, {"x": value})
    assert await list_runs_async() == []


# -- defect 16: lone surrogates -------------------------------------------------------------------


async def test_an_input_with_a_lone_surrogate_fails_before_the_body_runs(backend: str) -> None:
    called = []

    @graph_fn(name="takes_name")
    async def takes_name(name: str) -> None:
        called.append(name)

    with pytest.raises(InputValidationError, match=r"input 'name' is a str that is not valid"):
        await run_async(takes_name, {"name": "file-\udcff.txt"})
    assert called == []
    assert await list_runs_async() == []


async def test_an_output_with_a_lone_surrogate_fails_the_run_on_record(backend: str) -> None:
    @graph_fn(name="returns_name")
    async def returns_name() -> dict[str, str]:
        return {"name": "file-\udcff.txt"}

    with pytest.raises(OutputContractError, match=r"output 'name' is a str that is not valid"):
        await run_async(returns_name)
    assert (await only_run()).status is RunStatus.FAILED


# -- defect 18: inputs compared in their stored form ----------------------------------------------


@tool(outputs=["out"])
async def echo(value: Any) -> dict[str, Any]:
    return {"out": value}


@graphify(name="echoes", inputs=["value"], outputs=["out"])
def echoes(value: Any) -> Any:
    return {"out": echo(value=value).out}


@pytest.mark.parametrize(
    "value",
    [(1, 2), math.nan, {1: "a"}, [math.inf, {"k": (math.nan,)}]],
    ids=["tuple", "nan", "int-key", "nested"],
)
async def test_rerunning_a_task_graph_with_the_same_inputs_returns_its_outputs(
    backend: str, value: Any
) -> None:
    first = await run_async(echoes(), {"value": value}, run_id="same-inputs")
    again = await run_async(echoes(), {"value": value}, run_id="same-inputs")
    assert repr(again) == repr(first)


async def test_rerunning_with_other_inputs_is_still_refused(backend: str) -> None:
    await run_async(echoes(), {"value": (1, 2)}, run_id="other-inputs")
    with pytest.raises(InputValidationError, match="other inputs"):
        await run_async(echoes(), {"value": (1, 3)}, run_id="other-inputs")


# -- defect 10: inputs checked against annotations ------------------------------------------------


@graph_fn(name="doubles")
async def doubles(x: int) -> dict[str, int]:
    return {"y": x * 2}


async def test_a_graph_fn_input_is_coerced_to_its_annotation_when_lossless(backend: str) -> None:
    assert await run_async(doubles, {"x": "21"}) == {"y": 42}
    assert (await only_run()).inputs == {"x": 21}


async def test_a_graph_fn_input_of_the_wrong_type_names_the_field_and_the_type(
    backend: str,
) -> None:
    with pytest.raises(InputValidationError, match=r"graph_fn 'doubles'.*input 'x' expects int"):
        await run_async(doubles, {"x": "twenty-one"})
    assert await list_runs_async() == []


async def test_a_pydantic_model_input_arrives_as_the_model_and_is_stored_as_json(
    backend: str,
) -> None:
    seen: list[Any] = []

    @graph_fn(name="takes_model")
    async def takes_model(m: Model, when: datetime.datetime) -> None:
        seen.append((m, when))

    await run_async(takes_model, {"m": {"name": "a", "n": "3"}, "when": WHEN})
    assert seen == [(Model(name="a", n=3), WHEN)]
    assert (await only_run()).inputs == {
        "m": {"name": "a", "n": 3},
        "when": "2026-01-02T03:04:05+00:00",
    }


async def test_a_tool_input_of_the_wrong_type_fails_its_node_naming_the_field(
    backend: str,
) -> None:
    @tool(outputs=["y"])
    async def inc(x: int) -> int:
        return x + 1

    @graph_fn(name="calls_inc")
    async def calls_inc() -> dict[str, Any]:
        return {"a": await inc(x="1"), "b": await inc(x=[1])}

    with pytest.raises(InputValidationError, match=r"tool 'inc'.*input 'x' expects int, got list"):
        await run_async(calls_inc)
    record = await only_run()
    first, second = sorted(await list_nodes_async(record.run_id), key=lambda n: n.node_id)
    assert first.status is NodeStatus.SUCCEEDED
    assert first.outputs == {"y": 2}
    assert second.status is NodeStatus.FAILED


async def test_a_task_graph_node_input_of_the_wrong_type_fails_that_node(backend: str) -> None:
    @tool(outputs=["y"])
    async def halves(x: float) -> float:
        return x / 2

    @graphify(name="halving", inputs=["x"], outputs=["y"])
    def halving(x: Any) -> Any:
        return {"y": halves(x=x).y}

    assert await run_async(halving(), {"x": "3"}) == {"y": 1.5}
    with pytest.raises(InputValidationError, match="input 'x' expects float"):
        await run_async(halving(), {"x": "three"})


def test_unannotated_and_unresolvable_annotations_are_not_checked() -> None:
    @graph_fn(name="loose")
    def loose(a, b: "NotDefinedAnywhere", c: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def,name-defined]  # noqa: F821, UP037
        return {"a": a, "b": b, "c": c}

    assert run(loose, {"a": "1", "b": "2", "c": [3]}) == {"a": "1", "b": "2", "c": [3]}


class Sized(Protocol):
    def __len__(self) -> int: ...


async def test_an_annotation_pydantic_cannot_check_leaves_the_input_unchecked(
    backend: str,
) -> None:
    @graph_fn(name="takes_sized")
    async def takes_sized(items: Sized) -> dict[str, int]:
        return {"n": len(items)}

    assert await run_async(takes_sized, {"items": [1, 2, 3]}) == {"n": 3}
