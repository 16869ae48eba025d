"""``/graphs``: the graphs this server can run; ``POST /graphs/{graph_id}/runs`` starts one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.runs import get_run_async, submit_run_async
from aethergraph.server.catalog import describe_graph, describe_graphs

__all__ = ["router"]

router = APIRouter(tags=["graphs"])


class StartRun(BaseModel):
    """What starts a run: the graph's inputs and optional run options."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = Field(default=None, min_length=1, max_length=200)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    max_concurrency: int | None = Field(default=None, ge=1, le=10_000)


@router.get("/graphs")
async def list_graphs() -> dict[str, Any]:
    """Every graph defined in this server process."""
    return {"items": describe_graphs()}


@router.get("/graphs/{graph_id}")
async def get_graph(graph_id: str) -> dict[str, Any]:
    """One graph; a task graph comes with its spec (nodes and edges)."""
    return describe_graph(graph_id, with_spec=True)


@router.post("/graphs/{graph_id}/runs", status_code=202)
async def start_run(graph_id: str, body: StartRun) -> dict[str, Any]:
    """Start a run on the server and answer at once with its id."""
    graph = find_graph(graph_id)
    options = body.model_dump(exclude={"inputs"}, exclude_none=True)
    run_id = await submit_run_async(graph, body.inputs, **options)
    record = await get_run_async(run_id)
    return {"run_id": run_id, "status": str(record.status)}
