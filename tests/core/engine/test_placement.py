"""Tool placement (``@tool(resources=...)``) outside Ray: checked at decoration, ignored in process.

Under the Ray executor such a tool's body runs as a Ray task (tests/ray/test_ray_placement.py).
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import pytest

from aethergraph import graph_fn, graphify, run_async, tool
from aethergraph.errors import GraphDefinitionError
from aethergraph.runtime import NodeStatus, list_nodes_async, list_runs_async
from aethergraph.testing import memory_runtime

pytestmark = pytest.mark.timeout(30)


@tool(outputs=["where"], name="placed_sync", resources={"num_gpus": 1, "trainer": 0.5})
def where_sync(tag: str) -> dict[str, Any]:
    return {"where": [tag, os.getpid(), threading.get_ident()]}


@tool(outputs=["where"], name="placed_async", resources={"num_cpus": 2, "memory": 1 << 30})
async def where_async(tag: str) -> dict[str, Any]:
    return {"where": [tag, os.getpid(), threading.get_ident()]}


@graph_fn(name="calls_placed")
async def calls_placed() -> dict[str, Any]:
    return {"sync": (await where_sync("s"))["where"], "async": (await where_async("a"))["where"]}


@graphify(name="placed_graph", outputs=["where"])
def placed_graph():  # type: ignore[no-untyped-def]
    return {"where": where_sync("g").where}


async def test_in_process_resources_are_accepted_and_ignored_the_body_runs_in_its_node() -> None:
    here = [os.getpid(), threading.get_ident()]
    with memory_runtime():
        outputs = await run_async(calls_placed)
        assert outputs == {"sync": ["s", *here], "async": ["a", *here]}
        assert await run_async(placed_graph) == {"where": ["g", *here]}
        (record,) = [r for r in await list_runs_async() if r.graph_id == "calls_placed"]
        nodes = await list_nodes_async(record.run_id)
        assert [(n.tool, n.status) for n in nodes if n.node_id != "root"] == [
            ("placed_sync", NodeStatus.SUCCEEDED),
            ("placed_async", NodeStatus.SUCCEEDED),
        ]


def test_outside_a_run_a_placed_tool_is_the_plain_function() -> None:
    assert where_sync("plain")["where"][0] == "plain"


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        ([("num_gpus", 1)], r"resources must be a dict of resource name to amount"),
        ({1: 1}, r"resources has the key 1; resource names are non-empty str"),
        ({"num_gpus": -1}, r"resources\['num_gpus'\] must be a non-negative number, got int -1"),
        ({"num_gpus": True}, r"resources\['num_gpus'\] must be a non-negative number, got bool"),
        ({"num_gpus": "1"}, r"resources\['num_gpus'\] must be a non-negative number, got str"),
        ({"trainer": math.nan}, r"resources\['trainer'\] must be a non-negative number"),
        ({"GPU": 1}, r"resources names 'GPU'; ask for it as 'num_gpus'"),
    ],
    ids=["not a dict", "a key not a str", "negative", "bool", "str", "nan", "GPU"],
)
def test_bad_resources_are_refused_at_decoration_naming_the_tool_and_the_field(
    resources: Any, says: str
) -> None:
    def train(x: int) -> int:
        return x

    with pytest.raises(GraphDefinitionError, match=rf"^tool 'train': {says}"):
        tool(resources=resources)(train)


def test_a_placed_tool_cannot_take_the_run_context_and_is_told_why() -> None:
    async def needs_context(x: int, *, context: Any) -> int:
        return x

    with pytest.raises(
        GraphDefinitionError,
        match=r"tool 'needs_context' asks for resources, so its body may run in another process"
        r".*cannot take the run's context \('context'\)",
    ):
        tool(resources={"num_cpus": 1})(needs_context)
