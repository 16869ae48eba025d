"""``@graphify`` as the published documentation writes it: ``my_graph()``, ``.build()``, handles."""

from __future__ import annotations

from typing import Any

import pytest

from aethergraph import graph_fn, graphify, run, run_async, tool
from aethergraph.errors import ConfigurationError, GraphDefinitionError


@tool(outputs=["result"])
async def compat_add(x: int, y: int) -> dict[str, Any]:
    return {"result": x + y}


@tool(outputs=["doubled", "tripled"])
def compat_scale(x: int) -> dict[str, Any]:
    return {"doubled": 2 * x, "tripled": 3 * x}


@graphify(name="compat_adder", inputs=["x", "y"], outputs=["result"])
def compat_adder(x: Any, y: Any) -> Any:
    total = compat_add(x=x, y=y)
    # A whole handle of a one-output node stands for that output's value.
    return {"result": total}


async def test_calling_a_graphify_object_with_no_arguments_returns_the_graph_to_run() -> None:
    tg = compat_adder()
    assert await run_async(tg, {"x": 1, "y": 2}) == {"result": 3}


def test_build_returns_the_same_graph() -> None:
    assert compat_adder.build() is compat_adder()
    assert run(compat_adder.build(), {"x": 20, "y": 22}) == {"result": 42}


def test_calling_a_graph_with_inputs_says_to_pass_them_to_run() -> None:
    with pytest.raises(GraphDefinitionError, match=r"run\(graph, \{"):
        compat_adder(x=1, y=2)


def test_a_whole_handle_of_a_many_output_node_stays_its_outputs_dict() -> None:
    @graphify(name="compat_scaler", inputs=["x"])
    def scaler(x: Any) -> Any:
        return {"scaled": compat_scale(x), "sum": compat_add(1, 2)}

    assert run(scaler(), {"x": 2}) == {"scaled": {"doubled": 4, "tripled": 6}, "sum": 3}


def test_reusing_a_run_id_for_another_graph_says_to_share_a_session_instead() -> None:
    @graph_fn(name="compat_first")
    async def first() -> dict[str, int]:
        return {"n": 1}

    run(first, run_id="compat-shared", session_id="s1")
    with pytest.raises(ConfigurationError, match=r"same session_id=.*its session is 's1'"):
        run(compat_adder(), {"x": 1, "y": 2}, run_id="compat-shared")
