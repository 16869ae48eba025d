"""The FastAPI application factory: the API under ``/api/v1`` and the web page under ``/ui``.

Each resource has its own router in :mod:`aethergraph.server.routes`; errors are answered as
``application/problem+json`` (see :mod:`aethergraph.server.problems`). With a token, every API
route requires ``Authorization: Bearer <token>``, and so do ``/openapi.json`` and ``/docs``; the
page's static assets do not, since the page asks for the token itself and keeps it in the browser
session. A token is printable ASCII (what an HTTP header carries unchanged).
"""

from __future__ import annotations

import secrets
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from aethergraph.errors import ConfigurationError
from aethergraph.server.problems import Problem, install_problem_handlers
from aethergraph.server.routes import artifacts, events, graphs, health, runs, services, waits

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["API_PREFIX", "UI_PATH", "create_app"]

API_PREFIX = "/api/v1"
UI_PATH = "/ui"
_UI_FILES = Path(__file__).parent / "ui"


def _check_token(token: str | None) -> None:
    if token is not None and (
        not isinstance(token, str) or not token or not all(" " < c <= "~" for c in token)
    ):
        raise ConfigurationError(
            "the server token must be a non-empty string of printable ASCII characters without "
            "spaces (HTTP headers carry nothing else unchanged); e.g. secrets.token_urlsafe()"
        )


def _auth(token: str) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = header.encode("latin-1", "replace")  # as the header bytes came
        if not secrets.compare_digest(given, f"Bearer {token}".encode()):
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
    _check_token(token)
    guarded = token is not None
    app = FastAPI(
        title="AetherGraph",
        version=version("aethergraph"),
        description="Start, watch and answer AetherGraph runs.",
        openapi_url=None if guarded else "/openapi.json",
        docs_url=None if guarded else "/docs",
        redoc_url=None if guarded else "/redoc",
    )
    install_problem_handlers(app)
    app.include_router(_api(token))
    if token is not None:
        _guarded_docs(app, token)
    app.mount(UI_PATH, StaticFiles(directory=_UI_FILES, html=True), name="ui")

    @app.get("/", include_in_schema=False)
    async def root() -> Any:
        return RedirectResponse(f"{UI_PATH}/")

    return app


def _guarded_docs(app: FastAPI, token: str) -> None:
    """``/openapi.json`` and ``/docs`` behind the token, like the API they describe."""
    guard = [Depends(_auth(token))]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="AetherGraph API")
