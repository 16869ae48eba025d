"""Issue 9, defect 22 (with 9, 16, 21): bad arguments, table-driven. Each case ends in an error
from the project's tree that names the field, and leaves no run recorded."""

from __future__ import annotations

import math
from typing import Any

import pytest

from aethergraph import graph_fn, graphify, run, tool
from aethergraph.errors import AetherGraphError, ConfigurationError, GraphDefinitionError
from aethergraph.runtime import list_runs
from aethergraph.testing import memory_runtime


@graph_fn(name="adds")
async def adds(a: int = 1) -> dict[str, int]:
    return {"a": a}


@graph_fn(name="takes_any")
async def takes_any(a: Any = None) -> dict[str, Any]:
    return {"a": a}


def deep(n: int) -> Any:
    value: Any = 0
    for _ in range(n):
        value = {"v": value}
    return value


CASES: list[tuple[str, Any, type[AetherGraphError], str]] = [
    ("tool outputs", lambda: tool(outputs=5), GraphDefinitionError, "outputs must be a list"),
    ("tool inputs", lambda: tool(inputs=[1]), GraphDefinitionError, "inputs must be a list"),
    ("tool timeout", lambda: tool(timeout_s="x"), GraphDefinitionError, "timeout_s must be"),
    ("tool nan timeout", lambda: tool(timeout_s=math.nan), GraphDefinitionError, "timeout_s"),
    ("tool retry", lambda: tool(retry={"retry_on": "x"}), ConfigurationError, "retry_on must"),
    ("tool name", lambda: tool(name=3), GraphDefinitionError, "non-empty str name"),
    ("graph_fn name", lambda: graph_fn(123), GraphDefinitionError, "@graph_fn takes a function"),
    ("graph_fn outputs", lambda: graph_fn(outputs=7), GraphDefinitionError, "outputs must be"),
    ("graphify inputs", lambda: graphify(inputs=5), GraphDefinitionError, "inputs must be a list"),
    ("input names", lambda: run(adds, {1: 2}), ConfigurationError, "input names must be str"),
    ("inputs as keywords", lambda: run(adds, a=1), ConfigurationError, r"inputs dict.*'a'"),
    ("retry_on", lambda: run(adds, retry={"retry_on": "x"}), ConfigurationError, "retry_on"),
    ("nan timeout", lambda: run(adds, timeout_s=math.nan), ConfigurationError, "timeout_s"),
    ("bool timeout", lambda: run(adds, timeout_s=True), ConfigurationError, "timeout_s"),
    ("deep input", lambda: run(takes_any, {"a": deep(200)}), ConfigurationError, "deeper than 100"),
    ("surrogate", lambda: run(takes_any, {"a": "\udcff"}), ConfigurationError, "lone surrogate"),
    ("list limit", lambda: list_runs(limit="x"), ConfigurationError, "limit must be an int"),
    ("list offset", lambda: list_runs(offset=-1), ConfigurationError, "offset must be an int"),
    ("list status", lambda: list_runs(status="done"), ConfigurationError, "not a run status"),
]


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
@pytest.mark.parametrize(
    ("call", "error", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_argument_is_a_clear_error_at_the_call_and_records_nothing(
    backend: str, call: Any, error: type[AetherGraphError], says: str
) -> None:
    if backend == "memory":
        with memory_runtime(), pytest.raises(error, match=says):
            call()
        return
    with pytest.raises(error, match=says):
        call()
    assert list_runs() == []
