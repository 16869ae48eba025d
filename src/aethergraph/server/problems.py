"""Errors as ``application/problem+json`` (RFC 9457): status, title and a detail on what to fix.

Routes raise :class:`Problem` or let an AetherGraph error through; the handlers installed by
:func:`install_problem_handlers` turn both into problem documents. Nothing reaches the client as a
500 with a traceback: an unexpected error is logged and answered with a short problem.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from aethergraph.errors import (
    ConfigurationError,
    GraphNotFoundError,
    InputValidationError,
    RunError,
    RunNotFoundError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PROBLEM_JSON", "Problem", "install_problem_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger(__name__)


class Problem(Exception):  # noqa: N818 - named after the RFC's term
    """An error answer: ``status`` and a ``detail`` that tells the client what to fix."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem document with the standard title for ``status``."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, RunNotFoundError | GraphNotFoundError):
        return 404
    if isinstance(exc, InputValidationError):
        return 422
    if isinstance(exc, ConfigurationError | RunError):
        return 409
    return 422


async def _on_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.detail, headers=exc.headers)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


async def _on_invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in error.get("loc", ())), "message": error["msg"]}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem_response(422, detail, errors=errors)


async def _on_known(_request: Request, exc: Exception) -> JSONResponse:
    return problem_response(_status_of(exc), str(exc))


class _Unexpected:
    """Answer an unexpected error with a short problem (logged with its traceback).

    Starlette's own last-resort handler re-raises after answering, which makes the server drop
    the connection; this one answers and keeps the connection usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            method, path = scope.get("method", "?"), scope.get("path", "?")
            _log.error("unexpected error answering %s %s", method, path, exc_info=exc)
            response = problem_response(
                500, f"the server failed on {method} {path}: {type(exc).__name__}; see its log"
            )
            await response(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error the app meets with a problem document."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    for known in (RunNotFoundError, GraphNotFoundError, ConfigurationError, RunError, ValueError):
        app.add_exception_handler(known, _on_known)
    app.add_middleware(_Unexpected)
