"""``aethergraph serve``: the HTTP API and the web page, until SIGINT or SIGTERM.

The graphs a server can start, resume and answer are those its ``--load-path`` files and
``--load-module`` modules define. With ``--executor ray`` (or ``AETHERGRAPH_EXECUTOR=ray``) the runs
it starts or resumes execute on Ray workers; their events reach the page through the store.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import click

from aethergraph.cli.display import err, out
from aethergraph.cli.options import (
    apply_executor,
    apply_loads,
    apply_workspace,
    executor_options,
    load_options,
    workspace_option,
)
from aethergraph.core.engine.catalog import list_graphs
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.server.lifecycle import start_server_async, stop_server_async

__all__ = ["serve_command"]


async def _serve(host: str, port: int, token: str | None) -> None:
    url = await start_server_async(host, port, token=token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        graphs = ", ".join(sorted(list_graphs())) or "none"
        err.print(f"serving workspace {current_runtime().storage().location}; graphs: {graphs}")
        out.print(f"AetherGraph is serving {url}/ui/", markup=False)
        out.print(f"API: {url}/api/v1  docs: {url}/docs", markup=False)
        out.file.flush()
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        err.print("stopping: closing services")
        await stop_server_async()


@click.command("serve")
@load_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8745, show_default=True, help="Port (0 picks a free one).")
@click.option("--token", help="Bearer token; required beyond loopback. [env: AETHERGRAPH_TOKEN]")
@workspace_option
@executor_options
def serve_command(
    paths: tuple[str, ...],
    modules: tuple[str, ...],
    host: str,
    port: int,
    token: str | None,
    workspace: str | None,
    **executor_settings: Any,
) -> int:
    """Serve the API and the web page for the graphs these files and modules define."""
    apply_workspace(workspace)
    apply_executor(**executor_settings)
    apply_loads(paths, modules)
    asyncio.run(_serve(host, port, token or os.environ.get("AETHERGRAPH_TOKEN") or None))
    return 0
