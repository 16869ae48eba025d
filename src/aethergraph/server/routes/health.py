"""``GET /health``: the server is up, which version it is and which workspace it serves."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.services.runtime.registry import service_infos

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, Any]:
    """The server is up; its version, workspace and registered services."""
    return {
        "status": "ok",
        "version": version("aethergraph"),
        "workspace": current_runtime().storage().location,
        "services": [info.to_json() for info in service_infos()],
    }
