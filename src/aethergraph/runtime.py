"""Service and runtime management: services, workspace, runs, channels. Re-export only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aethergraph.core.engine.catalog import list_graphs
from aethergraph.core.engine.events import list_run_events, list_run_events_async, watch_run
from aethergraph.core.engine.history import (
    list_artifacts,
    list_artifacts_async,
    list_logs,
    list_logs_async,
    list_nodes,
    list_nodes_async,
    list_waits,
    list_waits_async,
    read_artifact,
    read_artifact_async,
    search_memory,
    search_memory_async,
)
from aethergraph.core.engine.mcp_tool import mcp_tool
from aethergraph.core.engine.runs import (
    cancel_run,
    cancel_run_async,
    get_run,
    get_run_async,
    list_runs,
    list_runs_async,
    reply,
    reply_async,
    submit_run_async,
)
from aethergraph.core.engine.runtime import Runtime, current_runtime
from aethergraph.services.channel import (
    FileChannel,
    register_channel,
    set_channel_alias,
    set_default_channel,
)
from aethergraph.services.llm import register_llm_client
from aethergraph.services.logger import show_logs
from aethergraph.services.mcp import register_mcp_client
from aethergraph.services.runtime.registry import (
    close_services,
    get_ext_context_service,
    list_ext_context_services,
    override_context_service,
    register_context_service,
    unregister_context_service,
)
from aethergraph.storage.records import NodeStatus, RunEvent, RunRecord, RunStatus

if TYPE_CHECKING:
    import os

    from aethergraph.core.engine.executor import Executor
    from aethergraph.storage.protocols import Storage

__all__ = [
    "FileChannel",
    "NodeStatus",
    "RunEvent",
    "RunRecord",
    "RunStatus",
    "Runtime",
    "cancel_run",
    "cancel_run_async",
    "close_services",
    "configure",
    "current_runtime",
    "get_ext_context_service",
    "get_run",
    "get_run_async",
    "list_artifacts",
    "list_artifacts_async",
    "list_ext_context_services",
    "list_graphs",
    "list_logs",
    "list_logs_async",
    "list_nodes",
    "list_nodes_async",
    "list_run_events",
    "list_run_events_async",
    "list_runs",
    "list_runs_async",
    "list_waits",
    "list_waits_async",
    "mcp_tool",
    "override_context_service",
    "read_artifact",
    "read_artifact_async",
    "register_channel",
    "register_context_service",
    "register_llm_client",
    "register_mcp_client",
    "reply",
    "reply_async",
    "search_memory",
    "search_memory_async",
    "set_channel_alias",
    "set_default_channel",
    "submit_run_async",
    "unregister_context_service",
    "watch_run",
    "workspace",
]


def configure(
    *,
    workspace: str | os.PathLike[str] | None = None,
    storage: Storage | None = None,
    database_url: str | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    num_workers: int = 2,
    max_runs_per_worker: int = 8,
    log_level: str | int | None = None,
) -> None:
    """Choose where runs are kept: a workspace folder, a PostgreSQL database, or a backend.

    ``database_url`` (``postgresql://...``, default ``AETHERGRAPH_DATABASE_URL``) keeps them in
    PostgreSQL, shared by every process that names the same database; ``artifact_root`` (default
    ``AETHERGRAPH_ARTIFACT_ROOT``; unset: the database) is the folder, on a filesystem every
    process mounts at that path, that keeps their artifact bytes. ``executor="ray"`` runs
    them on ``num_workers`` Ray worker actors (at most ``max_runs_per_worker`` runs each) of the
    cluster at ``ray_address`` (``None``: a local one, ``"auto"``: the running one).
    ``log_level`` ("info", "debug", ...) prints the runtime's log records, run logs included,
    with run and node ids.
    """
    if log_level is not None:
        show_logs(log_level)
    current_runtime().configure(
        workspace=workspace,
        storage=storage,
        database_url=database_url,
        artifact_root=artifact_root,
        executor=executor,
        ray_address=ray_address,
        num_workers=num_workers,
        max_runs_per_worker=max_runs_per_worker,
    )


def workspace() -> str:
    """The workspace folder runs are kept in."""
    return str(current_runtime().workspace())
