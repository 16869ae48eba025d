"""``MCPService``: the built-in ``mcp`` provider, shared by every run.

Servers are registered by name; each is opened on first use and held open (one owner task per
connection) until ``close()``, which closes them all and leaves no server process behind.
"""

from __future__ import annotations

import asyncio
import difflib
from typing import TYPE_CHECKING

from aethergraph.errors import ConfigurationError
from aethergraph.services.mcp.client import MCPClient
from aethergraph.services.mcp.connection import Connection, ServerSpec
from aethergraph.services.runtime.registry import BuiltinService

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aethergraph.core.engine.context import NodeContext

__all__ = ["MCPAccessor", "MCPService"]


class MCPAccessor:
    """``context.mcp``: called with a server name, the client of that server."""

    __slots__ = ("_ctx", "_service")

    def __init__(self, service: MCPService, ctx: NodeContext | None) -> None:
        self._service = service
        self._ctx = ctx

    def __call__(self, name: str) -> MCPClient:
        """The client of registered server ``name``."""
        return MCPClient(self._service.connection(name), self._ctx)


def _spec(
    name: str,
    command: Sequence[str] | None,
    env: Mapping[str, str] | None,
    cwd: str | None,
    url: str | None,
    headers: Mapping[str, str] | None,
) -> ServerSpec:
    if (command is None) == (url is None):
        raise ConfigurationError(
            f"register_mcp_client({name!r}, ...) takes exactly one of command=[...] (a stdio "
            "server process) or url='http://.../mcp' (streamable HTTP)"
        )
    if url is not None:
        if url.startswith(("ws://", "wss://")):
            raise ConfigurationError(
                f"MCP server {name!r}: the installed mcp SDK has no websocket client transport; "
                "serve it over streamable HTTP and register url='http://.../mcp'"
            )
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"MCP server {name!r}: url {url!r} is not http(s)://...")
        return ServerSpec(name, url=url, headers=dict(headers) if headers else None)
    if isinstance(command, str) or not command or not all(isinstance(c, str) for c in command):
        raise ConfigurationError(
            f"MCP server {name!r}: command must be a non-empty list of strings, e.g. "
            f"['python', 'server.py'], got {command!r}"
        )
    return ServerSpec(name, command=tuple(command), env=dict(env) if env else None, cwd=cwd)


class MCPService(BuiltinService):
    """Registered MCP servers and their connections; ``bind(ctx)`` is what ``context.mcp`` calls."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}
        self._retired: list[Connection] = []

    def bind(self, ctx: NodeContext | None) -> MCPAccessor:
        """The accessor a node uses: ``bind(ctx)(name)`` is its client for server ``name``."""
        return MCPAccessor(self, ctx)

    def register(
        self,
        name: str,
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Register server ``name`` (replacing an earlier one, which ``close()`` still closes)."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"MCP server name must be a non-empty str, got {name!r}")
        spec = _spec(name, command, env, cwd, url, headers)
        old = self._connections.pop(name, None)
        if old is not None:
            self._retired.append(old)
        self._connections[name] = Connection(spec)

    def unregister(self, name: str) -> None:
        """Forget server ``name`` (its connection is closed by ``close()``)."""
        old = self._connections.pop(name, None)
        if old is not None:
            self._retired.append(old)

    def servers(self) -> list[str]:
        """Registered server names, sorted."""
        return sorted(self._connections)

    def connection(self, name: str) -> Connection:
        """The connection of server ``name``.

        Raises:
            ConfigurationError: no server is registered under ``name`` (the message suggests
                the closest name and shows how to register one).
        """
        found = self._connections.get(name)
        if found is not None:
            return found
        close = difflib.get_close_matches(name, self._connections, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(
            f"no MCP server named {name!r} is registered (registered: "
            f"{', '.join(self.servers()) or 'none'}).{hint} Register it with "
            f"aethergraph.runtime.register_mcp_client({name!r}, command=[...]) or url=..."
        )

    def client(self, name: str) -> MCPClient:
        """A client of server ``name`` whose calls are not recorded with any run (for scripts)."""
        return MCPClient(self.connection(name), None)

    async def start(self) -> None:
        """Nothing to do: servers are opened on first use.

        Defined so that the registry's lifecycle also calls ``close()`` on this loop.
        """

    async def close(self) -> None:
        """Close every connection opened on this loop; their server processes are stopped."""
        connections = [*self._connections.values(), *self._retired]
        self._retired = []
        async with asyncio.TaskGroup() as group:
            for connection in connections:
                group.create_task(connection.close())
