"""Fixtures for the built-in services: a node identity and every storage backend."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from aethergraph.storage.memory import MemoryStorage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aethergraph.storage.protocols import Storage

BACKENDS = ["memory"]
if importlib.util.find_spec("aethergraph.storage.sqlite") is not None:
    BACKENDS.append("sqlite")


@dataclass(frozen=True)
class Scope:
    """A node identity, as NodeContext provides it."""

    run_id: str = "run-1"
    graph_id: str = "graph-1"
    node_id: str = "node-1"
    session_id: str | None = None


async def open_storage(backend: str, workspace: Path) -> Storage:
    if backend == "memory":
        return MemoryStorage()
    from aethergraph.storage.sqlite import SQLiteStorage

    return SQLiteStorage(workspace)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    storage = await open_storage(request.param, tmp_path / "workspace")
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
def scope() -> Scope:
    return Scope()
