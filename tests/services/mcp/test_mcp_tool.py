"""``mcp_tool(server, tool)``: an MCP tool as a graph node, a child node, and a model's tool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aethergraph import NodeContext, graph_fn, graphify, run_async
from aethergraph.runtime import list_nodes_async, mcp_tool
from aethergraph.testing import scripted_llm

pytestmark = pytest.mark.usefixtures("workspace")
in_module_loop = pytest.mark.asyncio(loop_scope="module")

PROGRAM = Path(__file__).parent / "programs" / "mcp_chain.py"

add = mcp_tool("stdio", "add")
echo = mcp_tool("stdio", "echo", outputs=["result"])


@graphify(name="mcp_graph", inputs={"text": "hi"}, outputs=["echoed"])
def mcp_graph(text):
    return {"echoed": echo(text=text).result}


@in_module_loop
async def test_an_mcp_tool_is_a_node_of_a_graphify_graph(servers: list[str]) -> None:
    assert await run_async(mcp_graph, {"text": "hello"}) == {"echoed": "hello"}


@in_module_loop
async def test_an_mcp_tool_awaited_in_a_graph_fn_is_a_child_node(servers: list[str]) -> None:
    @graph_fn
    async def adds(*, context: NodeContext) -> dict[str, Any]:
        out = await add(a=20, b=22)
        return {"sum": out["result"], "run_id": context.run_id}

    out = await adds()
    assert out["sum"] == 42
    nodes = {n.node_id: n for n in await list_nodes_async(out["run_id"]) if n.node_id != "root"}
    # The MCP call inside the tool's node is a journaled step of the graph_fn run.
    assert sorted(nodes) == ["stdio_add_1", "stdio_add_1.mcp_call_1"]
    node = nodes["stdio_add_1"]
    assert (node.inputs, node.outputs) == ({"a": 20, "b": 22}, {"result": 42})


@in_module_loop
async def test_a_model_calls_an_mcp_tool_with_the_server_schema(servers: list[str]) -> None:
    @graph_fn
    async def agent(*, context: NodeContext) -> dict[str, Any]:
        text, _ = await context.llm().chat("add 1 and 2", tools=[add])
        return {"text": text}

    script = [
        {"tool_calls": [{"name": "stdio_add", "arguments": {"a": 1, "b": 2}}]},
        lambda m: m[-1]["content"],
    ]
    with scripted_llm(script) as llm:
        assert (await agent())["text"] == "3"
    (offered,) = llm.requests[0].tools
    assert offered.description == "Add two integers."
    assert offered.parameters["required"] == ["a", "b"]


def test_a_finished_mcp_node_is_not_called_again_when_a_crashed_graph_resumes(
    tmp_path: Path,
) -> None:
    log = tmp_path / "mcp_calls.txt"
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(tmp_path / "ws"), "AG_TEST_MCP_LOG": str(log)}

    def program(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PROGRAM), "run-mcp"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )

    crashed = program(AG_TEST_KILL="1")
    assert crashed.returncode == -9, crashed.stderr
    assert log.read_text().split() == ["first-call"]
    resumed = program()
    assert resumed.returncode == 0, resumed.stderr
    result = [line for line in resumed.stdout.splitlines() if line.startswith("RESULT ")]
    assert json.loads(result[-1][7:]) == {"result": "first-call", "done": "after first-call"}
    assert log.read_text().split() == ["first-call"]
