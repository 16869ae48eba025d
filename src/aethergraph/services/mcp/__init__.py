"""The built-in ``mcp`` service: ``context.mcp(name)``, a Model Context Protocol client.

Built on the official ``mcp`` SDK (stdio and streamable HTTP), imported when a server is first
opened. ``mcp_service`` is the one process-wide provider the engine registers as the built-in
``mcp``; ``register_mcp_client`` registers servers with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aethergraph.services.mcp.client import MCPClient
from aethergraph.services.mcp.service import MCPAccessor, MCPService

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["MCPAccessor", "MCPClient", "MCPService", "mcp_service", "register_mcp_client"]

mcp_service = MCPService()
"""The process-wide provider: ``context.mcp(name)`` is ``mcp_service.bind(ctx)(name)``."""


def register_mcp_client(
    name: str,
    *,
    command: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> MCPClient:
    """Register MCP server ``name`` for every run: a stdio ``command`` or a streamable HTTP ``url``.

    The server is opened on first use (the protocol's ``initialize`` handshake), held open and
    shared by all runs, and closed with the other services. Registering a name again replaces it.

    Args:
        name: How nodes reach it: ``context.mcp(name)``.
        command: The server process, e.g. ``["python", "server.py"]`` (stdio).
        env: Extra environment variables for the process.
        cwd: The working directory of the process.
        url: The streamable HTTP endpoint, e.g. ``"http://127.0.0.1:8000/mcp"``.
        headers: HTTP headers to send (e.g. authorization); never logged or recorded.

    Returns:
        A client of the server whose calls are not recorded with any run (for scripts).
    """
    mcp_service.register(name, command=command, env=env, cwd=cwd, url=url, headers=headers)
    return mcp_service.client(name)
