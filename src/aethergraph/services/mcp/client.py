"""``MCPClient``: what ``context.mcp(name)`` returns; every request is recorded with the run.

Results are plain JSON values, not SDK objects: a tool's structured content when it has some,
else its text; lists of tools, resources and prompts as dicts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

from aethergraph.errors import MCPError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from mcp import ClientSession

    from aethergraph.core.engine.context import NodeContext
    from aethergraph.services.mcp.connection import Connection

__all__ = ["MCPClient"]

T = TypeVar("T")

# JSON-RPC codes the SDK uses for a closed connection and a request past its timeout.
_CONNECTION_CLOSED = -32000
_REQUEST_TIMEOUT = -32001


def _content_value(content: list[Any]) -> Any:
    texts = [c.text for c in content if getattr(c, "type", None) == "text"]
    if len(texts) == len(content):
        return "\n".join(texts)
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in content]


async def _all_pages(list_page: Callable[[Any], Awaitable[Any]], field: str) -> list[Any]:
    """Every item of a paginated listing, following ``next_cursor``."""
    from mcp import types

    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = await list_page(types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            return items


class MCPClient:
    """Requests to one registered MCP server."""

    __slots__ = ("_conn", "_ctx", "name")

    def __init__(self, connection: Connection, ctx: NodeContext | None) -> None:
        self._conn = connection
        self._ctx = ctx
        self.name = connection.spec.name

    def __repr__(self) -> str:
        return f"<MCPClient server={self.name!r}>"

    def _record(
        self,
        op: str,
        target: str | None,
        arguments: Any,
        started: float,
        error: BaseException | None,
    ) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        data: dict[str, Any] = {
            "node_id": ctx.node_id,
            "server": self.name,
            "op": op,
            "tool": target,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if arguments is not None:
            data["arguments"] = arguments
        if error is not None:
            data["error"] = str(error)
        run: Any = ctx._run
        run.publish("mcp_call", data)

    def _error(
        self, op: str, target: str | None, exc: BaseException, timeout_s: float | None
    ) -> MCPError:
        what = f"{op} {target!r}" if target else op
        where = f"MCP server {self.name!r}"
        code = getattr(getattr(exc, "error", None), "code", None)
        if code == _REQUEST_TIMEOUT:
            message = f"{where}: {what} got no answer within timeout_s={timeout_s}"
        elif code == _CONNECTION_CLOSED or not self._conn.is_open:
            message = (
                f"{where}: the connection broke during {what} (the server closed it or its "
                f"process died: {type(exc).__name__}: {exc}); the next call reconnects"
            )
        elif code is not None:
            message = f"{where} refused {what}: {getattr(exc.error, 'message', exc)}"  # type: ignore[attr-defined]
        else:
            message = f"{where}: {what} failed: {type(exc).__name__}: {exc}"
        error = MCPError(message, server=self.name, tool=target)
        error.__cause__ = exc
        return error

    async def _request(
        self,
        op: str,
        target: str | None,
        arguments: Any,
        send: Callable[[ClientSession], Awaitable[T]],
        timeout_s: float | None = None,
    ) -> T:
        started = time.perf_counter()
        try:
            session = await self._conn.get()
            try:
                result = await send(session)
            except MCPError:
                raise
            except Exception as exc:
                raise self._error(op, target, exc, timeout_s) from exc
        except MCPError as error:
            self._record(op, target, arguments, started, error)
            raise
        self._record(op, target, arguments, started, None)
        return result

    async def call(
        self, tool: str, arguments: dict[str, Any] | None = None, *, timeout_s: float | None = None
    ) -> Any:
        """Call ``tool``; its structured content when it has some, else its text.

        Raises:
            MCPError: the server answered with an error (its message is shown), the call ran
                past ``timeout_s``, or the connection broke during the call.
        """

        async def send(session: ClientSession) -> Any:
            result = await session.call_tool(tool, arguments or {}, read_timeout_seconds=timeout_s)
            if result.is_error:
                raise MCPError(
                    f"MCP server {self.name!r}: tool {tool!r} failed: "
                    f"{_content_value(result.content)}",
                    server=self.name,
                    tool=tool,
                )
            if result.structured_content is not None:
                return result.structured_content
            return _content_value(result.content)

        run = getattr(self._ctx, "_run", None)
        if run is None or self._ctx is None:
            return await self._request("call", tool, arguments or {}, send, timeout_s)

        async def step() -> Any:
            return await self._request("call", tool, arguments or {}, send, timeout_s)

        # In a graph_fn the result is a journaled step: a resumed run gets it back.
        return await run.run_step(self._ctx.node_id, "mcp_call", step)

    async def list_tools(self) -> list[dict[str, Any]]:
        """The server's tools: ``name``, ``description`` and ``input_schema`` of each."""
        tools = await self._request(
            "list_tools",
            None,
            None,
            lambda s: _all_pages(lambda p: s.list_tools(params=p), "tools"),
        )
        return [
            {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
            for t in tools
        ]

    async def list_resources(self) -> list[dict[str, Any]]:
        """The server's resources: ``uri``, ``name``, ``description``, ``mime_type``."""
        resources = await self._request(
            "list_resources",
            None,
            None,
            lambda s: _all_pages(lambda p: s.list_resources(params=p), "resources"),
        )
        return [
            {
                "uri": str(r.uri),
                "name": r.name,
                "description": r.description,
                "mime_type": r.mime_type,
            }
            for r in resources
        ]

    async def read_resource(self, uri: str) -> Any:
        """The resource's text (or base64 blob); a list of them when it has several parts."""
        result = await self._request("read_resource", uri, None, lambda s: s.read_resource(uri))
        parts = [getattr(c, "text", None) or getattr(c, "blob", "") for c in result.contents]
        return parts[0] if len(parts) == 1 else parts

    async def list_prompts(self) -> list[dict[str, Any]]:
        """The server's prompts: ``name``, ``description`` and ``arguments`` (names)."""
        prompts = await self._request(
            "list_prompts",
            None,
            None,
            lambda s: _all_pages(lambda p: s.list_prompts(params=p), "prompts"),
        )
        return [
            {
                "name": p.name,
                "description": p.description,
                "arguments": [a.name for a in p.arguments or ()],
            }
            for p in prompts
        ]

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The prompt filled in: ``description`` and ``messages`` (``role``, ``content``)."""
        result = await self._request(
            "get_prompt", name, arguments, lambda s: s.get_prompt(name, arguments)
        )
        return {
            "description": result.description,
            "messages": [
                {"role": m.role, "content": _content_value([m.content])} for m in result.messages
            ],
        }
