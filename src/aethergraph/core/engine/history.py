"""What runs left behind, read from outside any run: nodes, logs, waits, memory, artifacts.

Every reader is async (``*_async``) with a synchronous twin for scripts and notebooks; both take
``workspace=`` to read another workspace than the configured one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeVar

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.sync_bridge import sync_twin
from aethergraph.errors import ArtifactNotFoundError, RunNotFoundError
from aethergraph.storage.records import (
    Artifact,
    Event,
    LogEntry,
    NodeRecord,
    WaitRecord,
    WaitStatus,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aethergraph.storage.protocols import Storage

__all__ = [
    "list_artifacts",
    "list_artifacts_async",
    "list_logs",
    "list_logs_async",
    "list_nodes",
    "list_nodes_async",
    "list_waits",
    "list_waits_async",
    "read_artifact",
    "read_artifact_async",
    "search_memory",
    "search_memory_async",
]

Workspace = str | os.PathLike[str] | None
T = TypeVar("T")


async def list_nodes_async(run_id: str, *, workspace: Workspace = None) -> list[NodeRecord]:
    """The run's node records, in the order they started.

    Raises:
        RunNotFoundError: (a ``KeyError``) when the workspace has no such run.
    """
    storage = current_runtime().storage(workspace)
    return await _of_run(storage, run_id, await storage.list_nodes(run_id))


async def list_logs_async(
    run_id: str, *, limit: int = 1000, workspace: Workspace = None
) -> list[LogEntry]:
    """Log records kept with the run, oldest first.

    Raises:
        RunNotFoundError: (a ``KeyError``) when the workspace has no such run.
    """
    storage = current_runtime().storage(workspace)
    return await _of_run(storage, run_id, await storage.list_logs(run_id, limit=limit))


async def list_waits_async(
    *,
    run_id: str | None = None,
    status: WaitStatus | str | None = None,
    workspace: Workspace = None,
) -> list[WaitRecord]:
    """Waits (questions to people), oldest first; ``status="open"`` for the unanswered ones.

    ``run_id`` and ``status`` filter, as ``list_runs``' arguments do: a run that has no waits,
    or does not exist (yet), has none.
    """
    return (
        await current_runtime()
        .storage(workspace)
        .list_waits(run_id=run_id, status=WaitStatus(status) if status is not None else None)
    )


async def search_memory_async(
    query: str | None = None,
    *,
    run_id: str | None = None,
    session_id: str | None = None,
    kinds: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    limit: int = 50,
    workspace: Workspace = None,
) -> list[Event]:
    """Memory events matching a full-text query, oldest first among the newest ``limit``.

    ``session_id`` reads that session's memory; ``run_id`` the events a run wrote.
    """
    return (
        await current_runtime()
        .storage(workspace)
        .query_events(
            scope_id=session_id,
            run_id=run_id,
            kinds=list(kinds) if kinds is not None else None,
            tags=tags,
            text=query,
            limit=limit,
        )
    )


async def list_artifacts_async(
    *,
    run_id: str | None = None,
    session_id: str | None = None,
    kind: str | None = None,
    labels: Mapping[str, Any] | None = None,
    limit: int = 100,
    workspace: Workspace = None,
) -> list[Artifact]:
    """Indexed artifacts, newest first."""
    return (
        await current_runtime()
        .storage(workspace)
        .query_artifacts(
            run_id=run_id, session_id=session_id, kind=kind, labels=labels, limit=limit
        )
    )


async def read_artifact_async(artifact_id: str, *, workspace: Workspace = None) -> bytes:
    """An artifact's content.

    Raises:
        ArtifactNotFoundError: (a ``KeyError``) when no artifact has that id.
    """
    storage = current_runtime().storage(workspace)
    artifact = await storage.get_artifact(artifact_id)
    if artifact is None:
        raise ArtifactNotFoundError(
            f"no artifact {artifact_id!r} in workspace {storage.location}; list_artifacts() "
            "shows the ids there (pass workspace= to read another one)"
        )
    return await storage.read_bytes(artifact.sha256)


async def _of_run(storage: Storage, run_id: str, found: list[T]) -> list[T]:
    """``found``, the records of run ``run_id``; none for a run that does not exist is an error."""
    if not found and await storage.get_run(run_id) is None:
        raise RunNotFoundError(
            f"no run {run_id!r} in workspace {storage.location}; list_runs() shows the runs "
            "there (pass workspace= to read another one)"
        )
    return found


list_nodes = sync_twin(list_nodes_async)
list_logs = sync_twin(list_logs_async)
list_waits = sync_twin(list_waits_async)
search_memory = sync_twin(search_memory_async)
list_artifacts = sync_twin(list_artifacts_async)
read_artifact = sync_twin(read_artifact_async)
