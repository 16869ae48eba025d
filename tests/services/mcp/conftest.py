"""MCP server processes written with the SDK's ``MCPServer``: one over stdio, one over HTTP.

The tests of this folder share one event loop per module, so a connection (and its server
process) is opened once per module rather than once per test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from aethergraph.services.mcp import mcp_service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

SERVER = Path(__file__).with_name("server.py")
STDIO_COMMAND = [sys.executable, str(SERVER)]


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """A streamable HTTP MCP server process; its URL once it accepts connections."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--http"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"the HTTP MCP server did not start (said {port!r})"
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def servers(http_url: str) -> AsyncIterator[list[str]]:
    """``stdio`` and ``http`` registered with the process-wide service; closed afterwards."""
    mcp_service.register("stdio", command=STDIO_COMMAND)
    mcp_service.register("http", url=http_url)
    try:
        yield ["stdio", "http"]
    finally:
        await mcp_service.close()
        mcp_service.unregister("stdio")
        mcp_service.unregister("http")
        await mcp_service.close()
