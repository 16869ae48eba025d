"""``context.mcp(name)`` against real MCP server processes, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from aethergraph import NodeContext, graph_fn
from aethergraph.errors import ConfigurationError, MCPError
from aethergraph.runtime import close_services, list_run_events_async
from aethergraph.services.mcp import MCPService, mcp_service

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("workspace")]

TRANSPORTS = ["stdio", "http"]


async def wait_until_closed(name: str) -> None:
    """Wait until the client has seen its server go away."""
    async with asyncio.timeout(10):
        while mcp_service.connection(name).is_open:  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.005)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("server", TRANSPORTS)
async def test_list_and_call_tools(servers: list[str], server: str) -> None:
    client = mcp_service.client(server)
    tools = {t["name"]: t for t in await client.list_tools()}
    assert {"add", "echo", "fail"} <= set(tools)
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["add"]["description"] == "Add two integers."
    assert await client.call("add", {"a": 2, "b": 3}) == {"result": 5}


@pytest.mark.parametrize("server", TRANSPORTS)
async def test_resources_and_prompts(servers: list[str], server: str) -> None:
    client = mcp_service.client(server)
    (resource,) = await client.list_resources()
    assert resource["uri"] == "data://greeting"
    assert await client.read_resource("data://greeting") == "hello from the server"
    (prompt,) = await client.list_prompts()
    assert (prompt["name"], prompt["arguments"]) == ("review", ["code"])
    filled = await client.get_prompt("review", {"code": "x = 1"})
    assert filled["messages"] == [{"role": "user", "content": "Please review: x = 1"}]


@pytest.mark.parametrize("server", TRANSPORTS)
async def test_a_tool_error_raises_mcp_error_with_the_server_message(
    servers: list[str], server: str
) -> None:
    with pytest.raises(MCPError, match=r"tool 'fail' failed: .*boom") as caught:
        await mcp_service.client(server).call("fail", {"message": "boom"})
    assert (caught.value.server, caught.value.tool) == (server, "fail")


async def test_calls_in_runs_are_recorded_like_tool_calls(servers: list[str]) -> None:
    @graph_fn
    async def uses_mcp(*, context: NodeContext) -> dict[str, Any]:
        client = context.mcp("stdio")
        total = await client.call("add", {"a": 1, "b": 2})
        with pytest.raises(MCPError):
            await client.call("fail", {"message": "nope"})
        return {"total": total, "run_id": context.run_id}

    out = await uses_mcp()
    events = [e.data for e in await list_run_events_async(out["run_id"]) if e.type == "mcp_call"]
    assert [(e["server"], e["tool"], e["arguments"]) for e in events] == [
        ("stdio", "add", {"a": 1, "b": 2}),
        ("stdio", "fail", {"message": "nope"}),
    ]
    assert events[0]["node_id"] == "root"
    assert "error" not in events[0]
    assert "nope" in events[1]["error"]
    assert events[0]["duration_ms"] > 0


async def test_100_calls_from_20_concurrent_runs_share_one_session(servers: list[str]) -> None:
    @graph_fn
    async def five_calls(i: int, *, context: NodeContext) -> dict[str, Any]:
        client = context.mcp("stdio")
        results = await asyncio.gather(
            *(client.call("echo", {"text": f"{i}-{j}"}) for j in range(4)),
            client.call("pid"),
        )
        return {"echoes": [r["result"] for r in results[:4]], "pid": results[4]["result"]}

    outs = await asyncio.gather(*(five_calls(i) for i in range(20)))
    assert [o["echoes"] for o in outs] == [[f"{i}-{j}" for j in range(4)] for i in range(20)]
    assert len({o["pid"] for o in outs}) == 1


async def test_a_killed_server_is_reopened_by_the_next_call(servers: list[str]) -> None:
    client = mcp_service.client("stdio")
    first = (await client.call("pid"))["result"]
    os.kill(first, signal.SIGKILL)
    await wait_until_closed("stdio")
    second = (await client.call("pid"))["result"]
    assert second != first
    assert await client.call("add", {"a": 1, "b": 1}) == {"result": 2}


async def test_a_call_in_flight_when_the_server_dies_fails_naming_server_and_tool(
    servers: list[str],
) -> None:
    client = mcp_service.client("stdio")
    pid = (await client.call("pid"))["result"]
    call = asyncio.ensure_future(client.call("slow", {"ms": 10_000}))
    await asyncio.sleep(0.05)  # let the request reach the server
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(MCPError, match=r"'stdio'.*connection broke during call 'slow'") as caught:
        await call
    assert caught.value.tool == "slow"
    assert await client.call("echo", {"text": "back"}) == {"result": "back"}


async def test_a_call_past_its_timeout_raises_mcp_error(servers: list[str]) -> None:
    with pytest.raises(MCPError, match=r"no answer within timeout_s=0\.05"):
        await mcp_service.client("http").call("slow", {"ms": 2000}, timeout_s=0.05)


async def test_close_leaves_no_server_process(servers: list[str]) -> None:
    service = MCPService()
    service.register("own", command=mcp_service.connection("stdio").spec.command)
    pid = (await service.client("own").call("pid"))["result"]
    assert alive(pid)
    await service.close()
    assert not alive(pid)
    assert not service.connection("own").is_open


async def test_close_services_closes_the_connections_and_leaves_no_process(
    servers: list[str],
) -> None:
    mcp_service.register("own", command=mcp_service.connection("stdio").spec.command)

    @graph_fn
    async def uses(*, context: NodeContext) -> dict[str, Any]:
        return {"pid": (await context.mcp("own").call("pid"))["result"]}

    try:
        pid = (await uses())["pid"]
        assert alive(pid)
        await close_services()
        assert not alive(pid)
    finally:
        mcp_service.unregister("own")


async def test_an_unknown_server_lists_the_registered_ones(servers: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="Did you mean 'stdio'"):
        mcp_service.client("stdoi")


async def test_a_command_that_cannot_start_is_a_clear_error(servers: list[str]) -> None:
    service = MCPService()
    service.register("missing", command=["/nonexistent/mcp-server"])
    with pytest.raises(MCPError, match=r"'missing'.*could not be opened.*check the command"):
        await service.client("missing").list_tools()
    await service.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of command"),
        ({"command": ["x"], "url": "http://h/mcp"}, "exactly one of command"),
        ({"url": "ws://127.0.0.1:1/mcp"}, "no websocket client transport"),
        ({"url": "ftp://h/mcp"}, "is not http"),
        ({"command": "python server.py"}, "list of strings.*got .python server.py."),
    ],
)
async def test_a_bad_registration_says_what_to_give(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MCPService().register("bad", **options)
