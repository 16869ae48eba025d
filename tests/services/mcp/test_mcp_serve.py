"""``aethergraph mcp serve``: our graphs as MCP tools, driven by the SDK's own client."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from aethergraph.runtime import get_run_async, list_waits_async, watch_run

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRAPHS = Path(__file__).parent / "programs" / "served_graphs.py"


def serve_args(workspace: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "aethergraph",
        "mcp",
        "serve",
        "--load-path",
        str(GRAPHS),
        "--workspace",
        str(workspace),
        *extra,
    ]


async def exercise(session: ClientSession) -> dict[str, Any]:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert sorted(tools) == ["greet", "release"]
    assert tools["greet"].input_schema["required"] == ["name"]
    assert tools["greet"].input_schema["properties"]["punctuation"] == {"default": "!"}
    assert tools["greet"].description == "Greet someone by name."
    done = await session.call_tool("greet", {"name": "Ada"})
    assert not done.is_error
    waiting = await session.call_tool("release", {"version": "2.0"})
    assert not waiting.is_error
    failed = await session.call_tool("greet", {"nobody": 1})
    assert failed.is_error
    return {
        "done": done.structured_content,
        "waiting": waiting.structured_content,
        "text": waiting.content[0].text,
    }


async def check_recorded(out: dict[str, Any], workspace: Path) -> None:
    assert out["done"]["outputs"] == {"greeting": "Hello, Ada!"}
    assert (await get_run_async(out["done"]["run_id"], workspace=workspace)).status == "succeeded"
    waiting = out["waiting"]
    assert waiting["status"] == "waiting"
    assert waiting["prompt"] == "Ship it?"
    assert f"aethergraph reply {waiting['run_id']} --choice" in out["text"]
    assert (await get_run_async(waiting["run_id"], workspace=workspace)).status == "waiting"
    (wait,) = await list_waits_async(run_id=waiting["run_id"], workspace=workspace)
    assert wait.prompt == "Ship it?"
    # The command the result gives answers it, and the run goes on to its end.
    command = shlex.split(
        waiting["how_to_answer"].split(" (CHOICE")[0].replace("CHOICE", "Approve")
    )
    replied = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aethergraph", *command[1:]
    )
    assert await replied.wait() in (0, 3)  # 3: stored for the live server process to pick up
    async with asyncio.timeout(15):
        async for _event in watch_run(waiting["run_id"], workspace=workspace):
            pass  # until the run's final event
    done = await get_run_async(waiting["run_id"], workspace=workspace)
    assert (done.status, done.outputs) == ("succeeded", {"status": "shipped 2.0"})


async def test_mcp_serve_over_stdio_runs_graphs_as_tools(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    params = StdioServerParameters(command=sys.executable, args=serve_args(workspace))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        out = await exercise(session)
    await check_recorded(out, workspace)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    workspace = tmp_path / "ws"
    proc = subprocess.Popen(
        [sys.executable, *serve_args(workspace, "--http", "--port", "0")],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("MCP server at "):
                yield line.split()[-1], workspace
                break
        else:
            pytest.fail("aethergraph mcp serve --http did not start")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


async def test_mcp_serve_over_http_runs_graphs_as_tools(http_server: tuple[str, Path]) -> None:
    url, workspace = http_server
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        out = await exercise(session)
    await check_recorded(out, workspace)
