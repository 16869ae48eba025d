"""Shared fixtures: an isolated workspace per test and service registrations that do not leak."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.runtime import (
    list_ext_context_services,
    register_context_service,
    unregister_context_service,
)
from tests.postgres_server import postgres_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """Keep runs in a fresh workspace folder; the previous configuration comes back afterwards."""
    folder = tmp_path / "workspace"
    with current_runtime().scoped(workspace=folder) as runtime:
        try:
            yield folder
        finally:
            asyncio.run(runtime.storage().close())


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a throwaway PostgreSQL 15 server, one per session (see tests/postgres_server)."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def isolated_services() -> Iterator[None]:
    """Unregister every service a test registered, even when it did not clean up itself."""
    before = set(list_ext_context_services())
    try:
        yield
    finally:
        for name in set(list_ext_context_services()) - before:
            with contextlib.suppress(AttributeError):
                unregister_context_service(name)


@pytest.fixture
def register(isolated_services: None) -> Callable[[str, object], object]:
    """``register(name, service)``: register for the duration of the test; returns the service."""

    def _register(name: str, service: object) -> object:
        register_context_service(name, service)
        return service

    return _register
