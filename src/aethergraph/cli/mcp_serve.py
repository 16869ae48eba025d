"""``aethergraph mcp serve``: the graphs of some files and modules as the tools of an MCP server.

Every registered graph_fn and task graph becomes a tool whose input schema lists the graph's
declared inputs; calling it runs the graph here, as a run recorded in the workspace. A run that
asks a question keeps waiting in this process, and the tool result says so and gives the
``aethergraph reply`` command that answers it; runs still waiting when the server stops stay
waiting in the workspace, and the same command resumes them. Served over stdio by default, or
over streamable HTTP with ``--http``; either way the console channel writes to a file in the
workspace (over stdio, standard output carries the protocol). With ``--executor ray`` (and
PostgreSQL) the runs execute on Ray workers, as with ``aethergraph serve``.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aethergraph.cli.display import err
from aethergraph.cli.options import (
    apply_executor,
    apply_loads,
    apply_workspace,
    executor_options,
    load_options,
    workspace_option,
)
from aethergraph.core.engine.catalog import find_graph, list_graphs
from aethergraph.core.engine.events import watch_run
from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.runs import get_run_async, submit_run_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.server.catalog import describe_graph
from aethergraph.services.channel import FileChannel, register_channel
from aethergraph.services.runtime.registry import close_services
from aethergraph.storage.records import RunStatus

if TYPE_CHECKING:
    from mcp import types
    from mcp.server.lowlevel import Server


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


async def _waiting(run_id: str, reply_args: str) -> types.CallToolResult:
    from mcp import types

    waits = await list_waits_async(run_id=run_id, status="open")
    prompt = waits[0].prompt if waits else None
    options = list(waits[0].options or ()) if waits else []
    answer = "--choice CHOICE" if options else "--text ANSWER"
    how = f"aethergraph reply {run_id} {answer}{reply_args}"
    if options:
        how += f" (CHOICE: one of {', '.join(options)})"
    text = f"run {run_id} is waiting for an answer to {prompt!r}; answer it with: {how}"
    data = {"run_id": run_id, "status": "waiting", "prompt": prompt, "options": options}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={**data, "how_to_answer": how},
    )


async def _opens_a_wait(run_id: str) -> bool:
    """Follow the run until it asks a question (``True``) or ends (``False``)."""
    async for event in watch_run(run_id):
        if event.type == "wait_opened":
            return True
    return False


async def _call(name: str, arguments: dict[str, Any], reply_args: str) -> types.CallToolResult:
    from mcp import types

    def failed(text: str) -> types.CallToolResult:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], is_error=True
        )

    try:
        # The run belongs to this process's executor: one that asks a question keeps waiting
        # here, and the answer (from `aethergraph reply`, stored) is picked up by this process.
        run_id = await submit_run_async(find_graph(name), arguments)
    except Exception as exc:  # noqa: BLE001 - bad inputs, unknown graph: the caller is told
        return failed(f"{name!r} could not start: {exc}")
    if await _opens_a_wait(run_id):
        return await _waiting(run_id, reply_args)
    record = await get_run_async(run_id)
    if record.status is not RunStatus.SUCCEEDED:
        return failed(f"run {run_id} of {name!r} {record.status}: {record.error}")
    outputs = record.outputs or {}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(outputs, default=str))],
        structured_content={"run_id": run_id, "status": "succeeded", "outputs": outputs},
    )


async def _stop_runs() -> None:
    """Stop the runs still live here; those waiting for an answer stay waiting in the workspace."""
    runtime = current_runtime()
    for state in runtime.all_live():
        if state.record.status is RunStatus.WAITING:
            state.suspend_requested = True
    await runtime.executor.close()
    await close_services()


def _server(reply_args: str) -> Server[Any]:
    from mcp import types
    from mcp.server.lowlevel import Server

    async def on_list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tools())

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await _call(params.name, dict(params.arguments or {}), reply_args)

    return Server("aethergraph", on_list_tools=on_list_tools, on_call_tool=on_call_tool)


async def _serve_stdio(reply_args: str) -> None:
    from mcp.server.stdio import stdio_server

    server = _server(reply_args)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await _stop_runs()


async def _serve_http(host: str, port: int, reply_args: str) -> None:
    import uvicorn

    app = _server(reply_args).streamable_http_app(host=host)
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
        await _stop_runs()


@click.group("mcp")
def mcp_group() -> None:
    """Serve graphs over the Model Context Protocol."""


@mcp_group.command("serve")
@load_options
@click.option("--http", "over_http", is_flag=True, help="Serve streamable HTTP, not stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (with --http).")
@click.option("--port", default=8746, show_default=True, help="Port (with --http; 0: any free).")
@workspace_option
@executor_options
def serve_command(
    paths: tuple[str, ...],
    modules: tuple[str, ...],
    over_http: bool,
    host: str,
    port: int,
    workspace: str | None,
    **executor_settings: Any,
) -> int:
    """Expose every graph the given files and modules define as an MCP tool."""
    apply_workspace(workspace)
    apply_executor(**executor_settings)
    apply_loads(paths, modules)
    # What `aethergraph reply` needs to resume a waiting run: its graphs, its workspace, and
    # where it executes (a run held for its answer goes on here while this server runs).
    loads = [("--load-path", str(Path(p).resolve())) for p in paths]
    loads += [("--load-module", m) for m in modules]
    runtime = current_runtime()
    if not isinstance(getattr(runtime.storage(), "url", None), str):  # not PostgreSQL
        loads.append(("--workspace", str(runtime.workspace())))
    if executor_settings["executor"] != "in_process":
        loads.append(("--executor", executor_settings["executor"]))
        if executor_settings["ray_address"] is not None:
            loads.append(("--ray-address", executor_settings["ray_address"]))
    reply_args = "".join(f" {flag} {shlex.quote(value)}" for flag, value in loads)
    # Questions are answered with `aethergraph reply`; over stdio, standard output carries the
    # protocol. So the console channel writes to a file in the workspace instead of the terminal.
    folder = Path(current_runtime().workspace())
    folder.mkdir(parents=True, exist_ok=True)
    register_channel("console", FileChannel(folder / "mcp_console.jsonl"))
    if not over_http:
        err.print(f"serving graphs over MCP (stdio): {', '.join(sorted(list_graphs())) or 'none'}")
        asyncio.run(_serve_stdio(reply_args))
    else:
        asyncio.run(_serve_http(host, port, reply_args))
    return 0
