"""@graphify builders: graph shapes run to the right outputs; mistakes fail at build time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aethergraph import graphify, run, tool
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.errors import GraphDefinitionError, InputValidationError
from aethergraph.testing import memory_runtime


@tool(outputs=["y"])
async def inc(x: int) -> dict[str, Any]:
    return {"y": x + 1}


@tool(outputs=["y"])
def double(x: int) -> dict[str, Any]:
    return {"y": 2 * x}


@tool(outputs=["total"])
def total(values: list[int]) -> dict[str, Any]:
    return {"total": sum(values)}


@tool(outputs=["sum"])
def add(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b}


@tool(outputs=["keys", "y"])
def inspect_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    return {"keys": sorted(outputs), "y": outputs["y"]}


@tool(outputs=["y"])
def label(x: int, prefix: str = "n") -> dict[str, Any]:
    return {"y": f"{prefix}{x}"}


def run_in_memory(graph: TaskGraph, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    with memory_runtime():
        return run(graph, inputs or {})


# -- shapes ----------------------------------------------------------------------------------


def test_fan_out_fan_in_sums_every_branch() -> None:
    @graphify(name="build_fan", inputs=["x"], outputs=["total"])
    def fan(x):
        branches = [inc(x, _id=f"branch_{i}") for i in range(6)]
        return {"total": total([b.y for b in branches]).total}

    assert run_in_memory(fan, {"x": 1}) == {"total": 12}
    assert fan.dependencies("total_1") == tuple(f"branch_{i}" for i in range(6))


def test_diamond_joins_two_paths_from_one_source() -> None:
    @graphify(name="build_diamond", inputs=["x"])
    def diamond(x):
        top = inc(x, _alias="top")
        left = inc(top.y, _id="left")
        right = double(top.y, _id="right")
        return {"sum": add(a=left.y, b=right.y).sum}

    # x=3: top 4, left 5, right 8
    assert run_in_memory(diamond, {"x": 3}) == {"sum": 13}
    assert diamond.topological_order()[0] == "inc_1"
    assert diamond.node("top").id == "inc_1"
    assert set(diamond.dependents("top")) == {"left", "right"}


def test_chain_built_in_a_loop_threads_the_value_through_every_node() -> None:
    @graphify(name="build_chain", inputs={"x": 0}, outputs=["y"])
    def chain(x):
        value = x
        for _ in range(10):
            value = inc(value).y
        return {"y": value}

    assert run_in_memory(chain) == {"y": 10}
    assert run_in_memory(chain, {"x": 5}) == {"y": 15}
    assert chain.topological_order() == [f"inc_{i}" for i in range(1, 11)]


def test_comprehension_builder_maps_then_reduces() -> None:
    @graphify(name="build_comprehension", inputs=["xs"])
    def squares(xs):
        doubled = {f"d{i}": double(i, _id=f"d{i}") for i in range(4)}
        return {"total": total([h.y for h in doubled.values()]).total, "xs": xs}

    assert run_in_memory(squares, {"xs": [1]}) == {"total": 12, "xs": [1]}


def test_whole_handle_as_input_stands_for_the_outputs_dict() -> None:
    @graphify(name="build_whole_input", inputs=["x"])
    def whole(x):
        return {"seen": inspect_outputs(inc(x)).keys}

    assert run_in_memory(whole, {"x": 1}) == {"seen": ["y"]}


def test_whole_handle_as_graph_output_returns_that_nodes_outputs() -> None:
    @graphify(name="build_whole_output", inputs=["x"])
    def whole(x):
        return inspect_outputs(inc(x))

    assert run_in_memory(whole, {"x": 4}) == {"keys": ["y"], "y": 5}


def test_positional_and_keyword_tool_arguments_bind_by_name() -> None:
    @graphify(name="build_positional", inputs=["x"])
    def positional(x):
        first = label(x, "p")
        second = add(inc(x).y, b=10)
        return {"label": first.y, "sum": second["sum"]}

    assert run_in_memory(positional, {"x": 2}) == {"label": "p2", "sum": 13}
    assert positional.node("label_1").inputs["prefix"] == "p"
    assert positional.node("add_1").inputs["b"] == 10


def test_after_orders_nodes_without_passing_values() -> None:
    @graphify(name="build_after", inputs=["x"])
    def ordered(x):
        first = inc(x, _id="first")
        second = inc(x, _id="second", _after=first)
        third = inc(x, _id="third", _after=[first, second])
        return {"y": third.y}

    assert ordered.dependencies("second") == ("first",)
    assert ordered.dependencies("third") == ("first", "second")
    assert ordered.topological_order() == ["first", "second", "third"]
    assert "[style=dashed]" in ordered.to_dot()
    assert run_in_memory(ordered, {"x": 0}) == {"y": 1}


def test_single_declared_output_takes_a_bare_returned_value() -> None:
    @graphify(name="build_single", inputs=["x"], outputs=["result"])
    def single(x):
        return inc(x).y

    assert run_in_memory(single, {"x": 1}) == {"result": 2}


def test_task_graph_is_frozen_data_that_round_trips_through_json() -> None:
    @graphify(name="build_json", inputs=["x"], outputs=["sum"])
    def graph(x):
        top = inc(x, _alias="top")
        return {"sum": add(top.y, double(top.y).y).sum}

    restored = TaskGraph.from_json(graph.to_json())
    assert restored == graph
    assert restored.to_json() == graph.to_json()
    with pytest.raises(AttributeError):
        graph.name = "other"  # type: ignore[misc]
    text = graph.to_text()
    assert "inc_1 [top]: inc(x=$x)" in text
    assert "add_1: add(a=inc_1.y, b=double_1.y)  <- double_1, inc_1" in text
    assert "outputs: sum=add_1.sum" in text
    assert graph.to_dot().startswith('digraph "build_json" {')


# -- build-time errors -----------------------------------------------------------------------


def test_cycle_in_hand_edited_json_is_rejected_naming_the_cycle() -> None:
    @graphify(name="build_cycle_source", inputs=["x"])
    def chain(x):
        a = inc(x, _id="a")
        b = inc(a.y, _id="b")
        return {"y": inc(b.y, _id="c").y}

    data = copy.deepcopy(chain.to_json())
    first = next(n for n in data["nodes"] if n["id"] == "a")
    first["inputs"]["x"] = {"$node": "c", "key": "y"}
    with pytest.raises(GraphDefinitionError, match=r"has a cycle: a -> b -> c -> a"):
        TaskGraph.from_json(data)


def test_handle_from_another_graph_is_rejected() -> None:
    leaked: list[Any] = []

    @graphify(name="build_owner", inputs=["x"])
    def owner(x):
        handle = inc(x)
        leaked.append(handle)
        return handle

    with pytest.raises(GraphDefinitionError, match=r"belongs to graph 'build_owner'"):

        @graphify(name="build_thief_whole", inputs=["x"])
        def thief_whole(x):
            return {"keys": inspect_outputs(leaked[0]).keys}

    # The other graph's node id 'inc_1' also exists here: the output must still be refused,
    # not silently rewired to this graph's own 'inc_1'.
    with pytest.raises(GraphDefinitionError, match=r"of graph 'build_owner', not of graph"):

        @graphify(name="build_thief_output", inputs=["x"])
        def thief_output(x):
            inc(x)
            return {"y": inc(leaked[0].y).y}

    with pytest.raises(GraphDefinitionError, match=r"a handle cannot cross graphs"):

        @graphify(name="build_thief_after", inputs=["x"])
        def thief_after(x):
            return inc(x, _after=leaked[0])


def test_ref_to_unknown_output_key_suggests_the_declared_ones() -> None:
    with pytest.raises(GraphDefinitionError, match=r"has no output 'z'.*declared outputs are 'y'"):

        @graphify(name="build_bad_key", inputs=["x"])
        def bad(x):
            return {"z": inc(x).z}


def test_missing_declared_output_is_named() -> None:
    with pytest.raises(GraphDefinitionError, match=r"does not return 'extra'"):

        @graphify(name="build_missing_output", inputs=["x"], outputs=["y", "extra"])
        def missing(x):
            return {"y": inc(x).y}


def test_duplicate_node_id_is_rejected() -> None:
    with pytest.raises(GraphDefinitionError, match=r"node id 'same' is already the id or alias"):

        @graphify(name="build_duplicate", inputs=["x"])
        def duplicate(x):
            inc(x, _id="same")
            return inc(x, _id="same")


def test_unknown_tool_input_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(InputValidationError, match=r"unknown input 'xx'; did you mean 'x'\?"):

        @graphify(name="build_unknown_input", inputs=["x"])
        def unknown(x):
            return inc(xx=x)


def test_missing_tool_input_is_rejected() -> None:
    with pytest.raises(InputValidationError, match=r"missing required input 'b'"):

        @graphify(name="build_missing_tool_input", inputs=["x"])
        def missing(x):
            return add(a=x)


def test_undeclared_builder_parameter_is_explained() -> None:
    with pytest.raises(TypeError) as info:

        @graphify(name="build_undeclared", inputs=["x"])
        def undeclared(x, y):
            return add(x, y)

    assert any("declare them with inputs=" in note for note in info.value.__notes__)


def test_truth_test_on_a_handle_output_explains_the_misuse() -> None:
    with pytest.raises(
        GraphDefinitionError, match=r"A truth test .*Make the decision inside a @tool"
    ):

        @graphify(name="build_if", inputs=["x"])
        def branching(x):
            h = inc(x)
            if h.y:
                return {"y": h.y}
            return None


def test_run_checks_graph_inputs_before_starting() -> None:
    @graphify(name="build_inputs_checked", inputs=["x"])
    def graph(x):
        return inc(x)

    with memory_runtime():
        with pytest.raises(InputValidationError, match=r"missing required input\(s\) 'x'"):
            run(graph, {})
        with pytest.raises(InputValidationError, match=r"unknown input 'z'"):
            run(graph, {"x": 1, "z": 2})
