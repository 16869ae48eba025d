"""``mcp_tool(server, tool)``: a tool of a registered MCP server as an ordinary ``@tool``.

So it is a node in a ``@graphify`` builder (checkpointed like any other), a child node when
awaited in a graph_fn, and a tool a model may call through ``context.llm().chat(tools=[...])``.
Its inputs are the MCP tool's arguments; its outputs are the tool's structured content when it is
an object, else ``{"result": value}``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.tool import Tool
from aethergraph.services.mcp import mcp_service

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aethergraph.core.engine.context import NodeContext

__all__ = ["MCPTool", "mcp_tool"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class MCPTool(Tool[..., Any]):
    """A ``Tool`` whose work is a call to a tool of an MCP server."""

    def __init__(
        self,
        server: str,
        tool: str,
        *,
        name: str,
        outputs: Sequence[str] | None,
        timeout_s: float | None,
    ) -> None:
        async def call(context: NodeContext | None = None, **arguments: Any) -> Any:
            clients = mcp_service.bind(context) if context is not None else None
            client = clients(server) if clients is not None else mcp_service.client(server)
            return await client.call(tool, arguments)

        call.__name__ = call.__qualname__ = name
        call.__doc__ = f"Tool {tool!r} of MCP server {server!r}."
        super().__init__(call, name=name, outputs=outputs, version="mcp", timeout_s=timeout_s)
        self.server = server
        self.tool = tool
        self._described: tuple[str, dict[str, Any]] | None = None

    async def describe(self) -> tuple[str, dict[str, Any]]:
        """The MCP tool's description and input schema (asked of the server once)."""
        if self._described is not None:
            return self._described
        for listed in await mcp_service.client(self.server).list_tools():
            if listed["name"] == self.tool:
                self._described = (listed["description"] or self.tool, listed["input_schema"])
                return self._described
        raise LookupError(
            f"MCP server {self.server!r} has no tool {self.tool!r}; list them with "
            f"context.mcp({self.server!r}).list_tools()"
        )

    def __repr__(self) -> str:
        return f"<mcp_tool {self.server!r}/{self.tool!r}>"


def mcp_tool(
    server: str,
    tool: str,
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    timeout_s: float | None = None,
) -> MCPTool:
    """Tool ``tool`` of registered MCP server ``server`` as a ``@tool``.

    Args:
        server: The name the server was registered under (``register_mcp_client``).
        tool: The MCP tool's name.
        name: The tool (and node) name; ``<server>_<tool>`` by default.
        outputs: Declared output names, if the tool's structured content has fixed keys.
        timeout_s: A timeout for each node the tool runs as.
    """
    return MCPTool(
        server,
        tool,
        name=name or _UNSAFE.sub("_", f"{server}_{tool}"),
        outputs=outputs,
        timeout_s=timeout_s,
    )
