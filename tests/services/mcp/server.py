"""A small MCP server written with the SDK's own ``MCPServer``, for the client tests.

``python server.py`` serves over stdio; ``python server.py --http`` serves streamable HTTP on a
free loopback port and prints the port on its first line of output once it accepts connections.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("aethergraph-test", log_level="ERROR")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def pid() -> int:
    """The server process id."""
    return os.getpid()


@server.tool()
def fail(message: str) -> str:
    """Always fail with the message."""
    raise ToolError(message)


@server.tool()
async def slow(ms: int) -> str:
    """Answer after ``ms`` milliseconds."""
    await asyncio.sleep(ms / 1000)
    return "done"


@server.tool()
def record(label: str) -> str:
    """Append ``label`` to the file named by ``AG_TEST_MCP_LOG`` (a visible side effect)."""
    with open(os.environ["AG_TEST_MCP_LOG"], "a", encoding="utf-8") as fh:
        fh.write(label + "\n")
    return label


@server.resource("data://greeting")
def greeting() -> str:
    """A greeting."""
    return "hello from the server"


@server.prompt()
def review(code: str) -> str:
    """Ask for a code review."""
    return f"Please review: {code}"


async def _serve_http() -> None:
    import uvicorn

    config = uvicorn.Config(
        server.streamable_http_app(), host="127.0.0.1", port=0, log_level="error"
    )
    http = uvicorn.Server(config)
    task = asyncio.ensure_future(http.serve())
    while not http.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.005)
    print(http.servers[0].sockets[0].getsockname()[1], flush=True)
    await task


if __name__ == "__main__":
    if "--http" in sys.argv:
        asyncio.run(_serve_http())
    else:
        server.run()
