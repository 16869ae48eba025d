"""The FastAPI application factory: the API under ``/api/v1`` and the web page under ``/ui``.

Each resource has its own router in :mod:`aethergraph.server.routes`; errors are answered as
``application/problem+json`` (see :mod:`aethergraph.server.problems`). With a token, every API
route requires ``Authorization: Bearer <token>``; the page's static assets do not, since the page
asks for the token itself and keeps it in the browser session.
"""

from __future__ import annotations

import secrets
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from aethergraph.server.problems import Problem, install_problem_handlers
from aethergraph.server.routes import artifacts, events, graphs, health, runs, services, waits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["API_PREFIX", "UI_PATH", "create_app"]

API_PREFIX = "/api/v1"
UI_PATH = "/ui"
_UI_FILES = Path(__file__).parent / "ui"


def _auth(token: str) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not secrets.compare_digest(header.encode(), f"Bearer {token}".encode()):
            raise Problem(
                401,
                "this server requires 'Authorization: Bearer <token>' (the token given to "
                "'aethergraph serve --token' or AETHERGRAPH_TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _api(token: str | None) -> APIRouter:
    guard = [Depends(_auth(token))] if token is not None else []
    api = APIRouter(prefix=API_PREFIX, dependencies=guard)
    for module in (health, graphs, runs, events, waits, artifacts, services):
        api.include_router(module.router)
    return api


def create_app(*, token: str | None = None) -> FastAPI:
    """Build the app; a token (required beyond loopback) guards every API route."""
    app = FastAPI(
        title="AetherGraph",
        version=version("aethergraph"),
        description="Start, watch and answer AetherGraph runs.",
    )
    install_problem_handlers(app)
    app.include_router(_api(token))
    app.mount(UI_PATH, StaticFiles(directory=_UI_FILES, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def root() -> Any:
        return RedirectResponse(f"{UI_PATH}/")

    return app
