"""``aethergraph mcp serve``: the graphs of some files and modules as the tools of an MCP server.

Every registered graph_fn and task graph becomes a tool whose input schema lists the graph's
declared inputs; calling it runs the graph here, as a run recorded in the workspace. A run that
asks a question is left waiting (the tool result says so and how to answer it). Served over
stdio by default (the console channel then writes to a file in the workspace, since standard
output carries the protocol), or over streamable HTTP with ``--http``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aethergraph.cli.display import err
from aethergraph.cli.options import apply_loads, apply_workspace, load_options, workspace_option
from aethergraph.core.engine.catalog import find_graph, list_graphs
from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.lifecycle import start_run
from aethergraph.core.engine.options import RunOptions, new_run_id
from aethergraph.core.engine.run import execution_of
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import RunWaitingError
from aethergraph.server.catalog import describe_graph
from aethergraph.services.channel import FileChannel, register_channel
from aethergraph.services.runtime.registry import close_services

if TYPE_CHECKING:
    from mcp import types
    from mcp.server.lowlevel import Server

    from aethergraph.core.engine.lifecycle import RunState

__all__ = ["mcp_group"]


def _input_schema(described: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for item in described["inputs"]:
        prop: dict[str, Any] = {}
        if "default" in item:
            prop["default"] = item["default"]
        properties[item["name"]] = prop
    required = [i["name"] for i in described["inputs"] if i["required"]]
    return {"type": "object", "properties": properties, "required": required}


def _tools() -> list[types.Tool]:
    from mcp import types

    tools = []
    for name in sorted(list_graphs()):
        described = describe_graph(name)
        description = described.get("description") or f"Run the {described['kind']} {name!r}."
        tools.append(
            types.Tool(name=name, description=description, input_schema=_input_schema(described))
        )
    return tools


async def _suspend_at_waits(state: RunState) -> None:
    state.suspend_on_wait = True  # leave the run waiting at its first question


async def _waiting(run_id: str) -> types.CallToolResult:
    from mcp import types

    waits = await list_waits_async(run_id=run_id, status="open")
    prompt = waits[0].prompt if waits else None
    options = list(waits[0].options or ()) if waits else []
    how = f"aethergraph reply {run_id} --text ANSWER"
    if options:
        how = f"aethergraph reply {run_id} --choice CHOICE (one of: {', '.join(options)})"
    text = f"run {run_id} is waiting for an answer to {prompt!r}; answer it with: {how}"
    data = {"run_id": run_id, "status": "waiting", "prompt": prompt, "options": options}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={**data, "how_to_answer": how},
    )


async def _call(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    from mcp import types

    run_id = new_run_id()
    try:
        graph = find_graph(name)
        outputs = await start_run(
            current_runtime(),
            execution_of(graph),
            arguments,
            RunOptions({"run_id": run_id}),
            prepare=_suspend_at_waits,
        )
    except RunWaitingError:
        return await _waiting(run_id)
    except Exception as exc:  # noqa: BLE001 - the caller is told; the run's record keeps it
        return types.CallToolResult(
            content=[
                types.TextContent(type="text", text=f"run {run_id} of {name!r} failed: {exc}")
            ],
            is_error=True,
        )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(outputs, default=str))],
        structured_content={"run_id": run_id, "status": "succeeded", "outputs": outputs},
    )


def _server() -> Server[Any]:
    from mcp import types
    from mcp.server.lowlevel import Server

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tools())

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await _call(params.name, dict(params.arguments or {}))

    return Server("aethergraph", on_list_tools=on_list_tools, on_call_tool=on_call_tool)


async def _serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = _server()
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await close_services()


async def _serve_http(host: str, port: int) -> None:
    import uvicorn

    app = _server().streamable_http_app(host=host)
    http = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    task = asyncio.ensure_future(http.serve())
    try:
        while not http.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no event
            await asyncio.sleep(0.01)
        if http.started:
            bound = http.servers[0].sockets[0].getsockname()[1]
            click.echo(f"MCP server at http://{host}:{bound}/mcp", err=True)
        await task
    finally:
        await close_services()


@click.group("mcp")
def mcp_group() -> None:
    """Serve graphs over the Model Context Protocol."""


@mcp_group.command("serve")
@load_options
@click.option("--http", "over_http", is_flag=True, help="Serve streamable HTTP, not stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (with --http).")
@click.option("--port", default=8746, show_default=True, help="Port (with --http; 0: any free).")
@workspace_option
def serve_command(
    paths: tuple[str, ...],
    modules: tuple[str, ...],
    over_http: bool,
    host: str,
    port: int,
    workspace: str | None,
) -> int:
    """Expose every graph the given files and modules define as an MCP tool."""
    apply_workspace(workspace)
    apply_loads(paths, modules)
    if not over_http:
        # Standard output carries the protocol: the console channel writes to a file instead.
        folder = Path(current_runtime().workspace())
        folder.mkdir(parents=True, exist_ok=True)
        register_channel("console", FileChannel(folder / "mcp_console.jsonl"))
        err.print(f"serving graphs over MCP (stdio): {', '.join(sorted(list_graphs())) or 'none'}")
        asyncio.run(_serve_stdio())
    else:
        asyncio.run(_serve_http(host, port))
    return 0
