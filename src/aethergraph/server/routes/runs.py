"""``/runs``: list with cursor pagination, one run, what it left behind, cancel and resume."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.history import (
    list_artifacts_async,
    list_logs_async,
    list_nodes_async,
    list_waits_async,
    search_memory_async,
)
from aethergraph.core.engine.runs import (
    cancel_run_async,
    get_run_async,
    list_runs_async,
    submit_run_async,
)
from aethergraph.server.problems import Problem
from aethergraph.storage.records import NodeRecord, RunRecord, RunStatus

__all__ = ["node_json", "router", "run_json"]

router = APIRouter(tags=["runs"])

_SCAN_CHUNK = 500
_SCAN_LIMIT = 100_000
_RESUMABLE = (RunStatus.FAILED, RunStatus.INTERRUPTED)


def run_json(record: RunRecord) -> dict[str, Any]:
    """A run as the API shows it."""
    body = record.to_json()
    body.pop("owner", None)
    body.pop("graph_digest", None)
    body["updated_at"] = record.finished_at or record.started_at or record.created_at
    return body


def node_json(record: NodeRecord) -> dict[str, Any]:
    """A node with its duration in milliseconds (``None`` until it finished)."""
    body = record.to_json()
    started, finished = record.started_at, record.finished_at
    body["duration_ms"] = (
        round((finished - started) * 1000, 3)
        if started is not None and finished is not None
        else None
    )
    return body


def _encode_cursor(position: int, run_id: str) -> str:
    raw = json.dumps({"p": position, "r": run_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position, run_id = data["p"], data["r"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Problem(400, "cursor is not one this server gave out; drop it to start over") from exc
    if not isinstance(position, int) or position < 0 or not isinstance(run_id, str):
        raise Problem(400, "cursor is not one this server gave out; drop it to start over")
    return position, run_id


async def _page_after(
    cursor: str, limit: int, filters: dict[str, Any]
) -> tuple[list[RunRecord], int]:
    """The runs after the cursor's run, and the position of the first of them.

    Newer runs only push the cursor's run further down the list, so it is searched for from
    where it was; the page is therefore stable while new runs arrive.
    """
    position, anchor = _decode_cursor(cursor)
    start = position
    while start - position < _SCAN_LIMIT:
        chunk = await list_runs_async(limit=_SCAN_CHUNK + limit, offset=start, **filters)
        last = len(chunk) < _SCAN_CHUNK + limit
        for index, record in enumerate(chunk):
            # Past the chunk's own share, the next chunk holds the anchor with its whole page.
            if record.run_id == anchor and (index < _SCAN_CHUNK or last):
                return chunk[index + 1 : index + 1 + limit], start + index + 1
        if last:
            break
        start += _SCAN_CHUNK
    raise Problem(400, f"run {anchor!r} of the cursor is gone from this listing; start over")


@router.get("/runs")
async def list_runs(
    status: RunStatus | None = None,
    graph_id: str | None = None,
    session_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Runs, newest first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    filters: dict[str, Any] = {"status": status, "graph_id": graph_id, "session_id": session_id}
    if cursor is None:
        page, first = await list_runs_async(limit=limit + 1, **filters), 0
        more = len(page) > limit
        page = page[:limit]
    else:
        page, first = await _page_after(cursor, limit + 1, filters)
        more = len(page) > limit
        page = page[:limit]
    next_cursor = _encode_cursor(first + len(page) - 1, page[-1].run_id) if more else None
    return {"items": [run_json(r) for r in page], "next_cursor": next_cursor}


@router.get("/runs/{run_id}")
async def get_run(run_id: str) -> dict[str, Any]:
    """One run's record."""
    return run_json(await get_run_async(run_id))


@router.get("/runs/{run_id}/nodes")
async def list_nodes(run_id: str) -> dict[str, Any]:
    """The run's nodes in the order they started, with timings."""
    await get_run_async(run_id)
    return {"items": [node_json(n) for n in await list_nodes_async(run_id)]}


@router.get("/runs/{run_id}/logs")
async def list_logs(
    run_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> dict[str, Any]:
    """Log records kept with the run, oldest first."""
    await get_run_async(run_id)
    return {"items": [e.to_json() for e in await list_logs_async(run_id, limit=limit)]}


@router.get("/runs/{run_id}/artifacts")
async def list_artifacts(
    run_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> dict[str, Any]:
    """Artifacts the run produced, newest first."""
    await get_run_async(run_id)
    return {"items": [a.to_json() for a in await list_artifacts_async(run_id=run_id, limit=limit)]}


@router.get("/runs/{run_id}/memory")
async def list_memory(
    run_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 200
) -> dict[str, Any]:
    """Memory events the run recorded, oldest first."""
    await get_run_async(run_id)
    return {"items": [e.to_json() for e in await search_memory_async(run_id=run_id, limit=limit)]}


@router.get("/runs/{run_id}/waits")
async def list_run_waits(run_id: str) -> dict[str, Any]:
    """The run's waits, open or answered, oldest first."""
    await get_run_async(run_id)
    return {"items": [w.to_json() for w in await list_waits_async(run_id=run_id)]}


@router.post("/runs/{run_id}/cancel")
async def cancel_run(run_id: str) -> dict[str, Any]:
    """Cancel a run; a finished run keeps its status."""
    status = await cancel_run_async(run_id)
    return {"run_id": run_id, "status": str(status)}


@router.post("/runs/{run_id}/resume", status_code=202)
async def resume_run(run_id: str) -> dict[str, Any]:
    """Resume a failed or interrupted run from its checkpoint, on the server."""
    record = await get_run_async(run_id)
    if record.status not in _RESUMABLE:
        raise Problem(
            409,
            f"run {run_id} is {record.status}; only a failed or interrupted run can be resumed",
        )
    graph = find_graph(record.graph_id, run_id=run_id)
    await submit_run_async(graph, dict(record.inputs), run_id=run_id)
    return {"run_id": run_id, "status": str((await get_run_async(run_id)).status)}
