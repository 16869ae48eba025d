"""The FastAPI application factory. Routes live under ``/api/v1``; each group is its own router."""

from __future__ import annotations

import secrets
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request

from aethergraph.services.runtime.registry import service_infos

__all__ = ["create_app"]

API_PREFIX = "/api/v1"


def _auth(token: str | None) -> Any:
    async def check(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        if not secrets.compare_digest(header, f"Bearer {token}"):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    return check


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "services": [info.to_json() for info in service_infos()],
        }

    return router


def create_app(*, token: str | None = None) -> FastAPI:
    """Build the app; a token (required beyond loopback) guards every API route."""
    app = FastAPI(title="AetherGraph", version=version("aethergraph"))
    app.include_router(_health_router(), prefix=API_PREFIX, dependencies=[Depends(_auth(token))])
    return app
