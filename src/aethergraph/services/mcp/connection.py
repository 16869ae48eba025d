"""One connection to one MCP server, held open by one owner task.

The SDK's transports and ``ClientSession`` live in anyio task groups, which must be entered and
exited by the same task. So each connection has an owner task that opens the transport, runs the
``initialize`` handshake, and waits until it is told to close; requests from any task on the loop
go through the session it holds. The owner task outlives the run that opened the connection (it
is shared by all runs), which is why it is a task of the service, stopped by ``close()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aethergraph.errors import MCPError

if TYPE_CHECKING:
    from mcp import ClientSession

__all__ = ["Connection", "ServerSpec"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0
"""How long ``close()`` waits for an owner task to shut its transport (and process) down."""


@dataclass(frozen=True)
class ServerSpec:
    """How to reach a server: a command (stdio) or a URL (streamable HTTP)."""

    name: str
    command: tuple[str, ...] = ()
    env: dict[str, str] | None = field(default=None, repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The server as shown in messages (no headers or environment: they may hold secrets)."""
        return self.url if self.url is not None else " ".join(self.command)


class _EndWatch:
    """A read stream that notes when it ends (EOF): the server closed or died."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.ended = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def __aenter__(self) -> _EndWatch:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        self.ended = True
        return await self._stream.__aexit__(*exc)

    def __aiter__(self) -> _EndWatch:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._stream.__anext__()
        except BaseException:
            self.ended = True
            raise

    async def receive(self) -> Any:
        try:
            return await self._stream.receive()
        except BaseException:
            self.ended = True
            raise

    async def aclose(self) -> None:
        self.ended = True
        await self._stream.aclose()


async def _open_transport(stack: AsyncExitStack, spec: ServerSpec) -> tuple[Any, Any]:
    if spec.url is not None:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        # The SDK's own timeouts: a server may hold a response stream open for long.
        client = httpx2.AsyncClient(headers=spec.headers, timeout=httpx2.Timeout(30.0, read=300.0))
        await stack.enter_async_context(client)
        streams = await stack.enter_async_context(
            streamable_http_client(spec.url, http_client=client)
        )
        return streams[0], streams[1]
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=spec.command[0], args=list(spec.command[1:]), env=spec.env, cwd=spec.cwd
    )
    read, write = await stack.enter_async_context(stdio_client(params))
    return read, write


class Connection:
    """The live session with one server on one event loop, reopened after it breaks."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.session: ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._watch: _EndWatch | None = None
        self._owner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def is_open(self) -> bool:
        """Whether the session is up and its server has not gone away."""
        return self.session is not None and self._watch is not None and not self._watch.ended

    async def get(self) -> ClientSession:
        """The open session, opening (or reopening) it first when needed."""
        session = self.session
        if session is not None and self.is_open and self.loop is asyncio.get_running_loop():
            return session
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # first use, or the loop it was opened on has ended
            self._forget()
            self.loop = loop
            self._lock = asyncio.Lock()
        assert self._lock is not None
        async with self._lock:
            if not self.is_open:
                await self.close()
                await self._open()
        assert self.session is not None
        return self.session

    def _forget(self) -> None:
        self.session = None
        self._watch = None
        self._owner = None
        self._stop = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._stop = asyncio.Event()
        # A fresh context: the owner must not carry the context of the node that opened it.
        self._owner = loop.create_task(
            self._own(ready, self._stop),
            name=f"aethergraph-mcp-{self.spec.name}",
            context=contextvars.Context(),
        )
        await asyncio.shield(ready)

    async def _own(self, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        from mcp import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await _open_transport(stack, self.spec)
                watch = _EndWatch(read)
                session = await stack.enter_async_context(ClientSession(watch, write))
                await session.initialize()
                self.session, self._watch = session, watch
                ready.set_result(None)
                await stop.wait()
        except Exception as exc:  # noqa: BLE001 - reported to the opener, or logged
            if not ready.done():
                ready.set_exception(self._open_error(exc))
            else:
                logger.warning(
                    "MCP server %r: the connection ended with an error: %s",
                    self.spec.name,
                    exc,
                    extra={"mcp_server": self.spec.name},
                )
        finally:
            if self._owner is asyncio.current_task():  # not replaced by a newer connection
                self.session = None
            if not ready.done():
                ready.set_exception(
                    MCPError(
                        f"MCP server {self.spec.name!r}: closed while opening",
                        server=self.spec.name,
                    )
                )

    def _open_error(self, exc: BaseException) -> MCPError:
        cause = exc
        while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
            cause = cause.exceptions[0]
        how = (
            "check that the URL is right and the server is running"
            if self.spec.url is not None
            else "check the command (and that it speaks MCP on stdin/stdout)"
        )
        error = MCPError(
            f"MCP server {self.spec.name!r} ({self.spec.where}) could not be opened: "
            f"{type(cause).__name__}: {cause}; {how}",
            server=self.spec.name,
        )
        error.__cause__ = exc
        return error

    async def close(self) -> None:
        """Close the session and its transport (a stdio server process is stopped)."""
        owner, stop = self._owner, self._stop
        self._forget()
        if owner is None or stop is None or owner.done():
            return
        if owner.get_loop() is not asyncio.get_running_loop():
            return  # opened on a loop that has ended: its tasks ended with it
        stop.set()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(owner)
        except TimeoutError:
            owner.cancel()
            logger.warning(
                "MCP server %r did not close within %ss; its task was cancelled",
                self.spec.name,
                CLOSE_TIMEOUT_S,
                extra={"mcp_server": self.spec.name},
            )
