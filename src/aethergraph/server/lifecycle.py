"""``start_server`` / ``stop_server``: the sidecar HTTP server on a loop that owns the services.

``start_server`` runs uvicorn on a background thread with its own event loop and returns the base
URL once the socket accepts connections. While it runs, every run started anywhere in the process
executes on that loop, so services' locks, pools and clients stay on one loop.
``start_server_async`` serves on the caller's loop instead. FastAPI and uvicorn are imported here,
on first start, never by ``import aethergraph``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import threading
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.wakeups import wake_sleeping_runs
from aethergraph.core.graph.validation import suggest
from aethergraph.errors import ConfigurationError, ServerError
from aethergraph.services.logger import show_logs
from aethergraph.services.runtime.registry import close_services

if TYPE_CHECKING:
    import os

__all__ = ["server_url", "start_server", "start_server_async", "stop_server", "stop_server_async"]


class _Running:
    """The one server of this process."""

    def __init__(self, server: Any, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.url = url
        self.loop = loop
        self.thread: threading.Thread | None = None
        self.task: asyncio.Task[None] | None = None


_current: _Running | None = None
_guard = threading.Lock()


def server_url() -> str | None:
    """The running server's base URL, or ``None``."""
    return _current.url if _current is not None else None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it small responses wait for delayed ACKs (~40 ms each).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"cannot listen on {host}:{port}: {exc}. Pick another port (port=0 picks a free one)"
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _make_server(sock: socket.socket, token: str | None, log_level: str) -> tuple[Any, str]:
    import uvicorn

    from aethergraph.server.app import create_app

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        create_app(token=token), log_level=log_level, lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    # The embedding program owns its signals (Ctrl-C), not the sidecar.
    setattr(server, "capture_signals", contextlib.nullcontext)  # noqa: B010
    return server, f"http://{shown}:{port}"


def _token_for(host: str, token: str | None) -> str | None:
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    if not loopback and not token:
        raise ServerError(
            f"binding to {host} exposes the server beyond this machine; pass token=... (clients "
            "then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1"
        )
    return token


_ACCEPTED = ("host", "port", "token", "workspace", "log_level")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _settings(
    workspace: str | os.PathLike[str] | None, log_level: str | None, unknown: dict[str, Any]
) -> str:
    """Apply ``workspace`` and ``log_level``; the server's own log level. Unknown keys fail."""
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigurationError(
            f"start_server() got unknown keyword argument(s) {', '.join(sorted(unknown))}; it "
            f"accepts {', '.join(_ACCEPTED)}.{suggest(name, _ACCEPTED)}"
        )
    level = "warning" if log_level is None else str(log_level).lower()
    if level not in _LOG_LEVELS:
        raise ConfigurationError(
            f"start_server(log_level={log_level!r}): use one of {', '.join(_LOG_LEVELS)}"
        )
    if log_level is not None:
        show_logs(level)
    if workspace is not None:
        current_runtime().configure(workspace=workspace)
    return level


def _prepare(
    host: str, port: int, token: str | None, log_level: str
) -> tuple[Any, socket.socket, str]:
    """Check the token rule, then bind; the socket is closed again if the server cannot be made."""
    checked = _token_for(host, token)
    sock = _bind(host, port)
    try:
        server, url = _make_server(sock, checked, log_level)
    except BaseException:
        sock.close()
        raise
    return server, sock, url


def start_server(
    host: str = "127.0.0.1",
    port: int = 8745,
    *,
    token: str | None = None,
    workspace: str | os.PathLike[str] | None = None,
    log_level: str | None = None,
    **unknown: Any,
) -> str:
    """Start the server on a background thread; return its URL once it accepts connections.

    ``workspace`` chooses where runs are kept (as ``aethergraph.runtime.configure``);
    ``log_level`` (``"info"``, ...) applies to the server and the ``aethergraph`` loggers.
    """
    global _current
    with _guard:
        if _current is not None:
            raise ServerError(f"a server is already running at {_current.url}; stop_server() first")
        level = _settings(workspace, log_level, unknown)
        server, sock, url = _prepare(host, port, token, level)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(_serve(server, sock, started))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
            finally:
                started.set()
                loop.run_until_complete(_cancel_leftovers())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        running = _Running(server, url, loop)
        # The server serves the caller's runtime (a scoped one too): its thread runs in a copy
        # of the caller's context.
        context = contextvars.copy_context()
        running.thread = threading.Thread(
            target=context.run, args=(serve,), name="aethergraph-server", daemon=True
        )
        running.thread.start()
        started.wait()
        if failure or not server.started:
            raise ServerError(f"the server did not start on {url}") from (
                failure[0] if failure else None
            )
        current_runtime().owner_loop = loop
        _current = running
        return url


async def _cancel_leftovers() -> None:
    """Cancel what still runs on the server's loop (runs, monitors) before the loop closes."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _serve(server: Any, sock: socket.socket, started: threading.Event) -> None:
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    # uvicorn signals readiness only through this flag.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    started.set()
    # Runs left sleeping by a process that stopped are woken on time while the server runs
    # (cancelled with the rest of the loop's tasks when it stops).
    waker = asyncio.ensure_future(wake_sleeping_runs())
    try:
        await task
    finally:
        waker.cancel()


async def start_server_async(
    host: str = "127.0.0.1",
    port: int = 8745,
    *,
    token: str | None = None,
    workspace: str | os.PathLike[str] | None = None,
    log_level: str | None = None,
    **unknown: Any,
) -> str:
    """Serve on the running event loop; return the URL once it accepts connections."""
    global _current
    if _current is not None:
        raise ServerError(f"a server is already running at {_current.url}; stop_server() first")
    level = _settings(workspace, log_level, unknown)
    server, sock, url = _prepare(host, port, token, level)
    loop = asyncio.get_running_loop()
    running = _Running(server, url, loop)
    running.task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if running.task.done():
            running.task.result()
            raise ServerError(f"the server did not start on {url}")
        await asyncio.sleep(0.005)
    waker = asyncio.ensure_future(wake_sleeping_runs())
    running.task.add_done_callback(lambda _task: waker.cancel())
    current_runtime().owner_loop = loop
    _current = running
    return url


def stop_server() -> None:
    """Close services on the server's loop, then stop the server. Does nothing if none runs."""
    global _current
    with _guard:
        running = _current
        if running is None:
            return
        if running.thread is None:
            raise ServerError(
                "the server was started with start_server_async; use stop_server_async"
            )
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_services(), running.loop).result(timeout=30)
        running.server.should_exit = True
        running.thread.join(timeout=30)
        current_runtime().owner_loop = None
        _current = None


async def stop_server_async() -> None:
    """Stop the server (however it was started) and close services."""
    global _current
    running = _current
    if running is None:
        return
    if running.thread is not None:
        await asyncio.to_thread(stop_server)
        return
    await close_services()
    running.server.should_exit = True
    if running.task is not None:
        await running.task
    current_runtime().owner_loop = None
    _current = None
