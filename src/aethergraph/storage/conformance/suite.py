"""The base of the conformance suite: the storage under test, and records to store in it."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.records import Artifact, Event, RunRecord, RunStatus, WaitRecord

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aethergraph.storage.protocols import Storage

__all__ = [
    "PAST",
    "UNKNOWN_DIGEST",
    "Suite",
    "make_artifact",
    "make_event",
    "make_run",
    "make_wait",
]

UNKNOWN_DIGEST = "0" * 64
PAST = 1.0  # an absolute expiry long gone


class Suite:
    """What every part of the suite shares: how to open the storage under test.

    ``workspace`` is a fresh folder, set before ``make_storage`` is called, where a backend may keep
    its data.
    """

    workspace: Path

    async def make_storage(self) -> Storage:
        """A new, empty storage object: a subclass must say how."""
        raise NotImplementedError(f"{type(self).__name__} must define make_storage()")

    async def make_second_storage(self) -> Storage:
        """A second storage object on the data of the first; skips the test unless defined."""
        pytest.skip(f"{type(self).__name__} cannot open a second object on the same data")

    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[Storage]:
        """The storage under test, closed afterwards."""
        self.workspace = tmp_path / "workspace"
        store = await self.make_storage()
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    async def second(self, storage: Storage) -> AsyncIterator[Storage]:
        """Another storage object on the same data as ``storage``, closed afterwards."""
        store = await self.make_second_storage()
        try:
            yield store
        finally:
            await store.close()


def make_run(run_id: str, created_at: float = 1.0, **fields: Any) -> RunRecord:
    """A run record, running graph ``g`` unless ``fields`` say otherwise."""
    fields.setdefault("graph_id", "g")
    fields.setdefault("status", RunStatus.RUNNING)
    return RunRecord(run_id=run_id, created_at=created_at, **fields)


def make_event(n: int, **fields: Any) -> Event:
    """Memory event ``e<n>`` at time ``n``."""
    fields.setdefault("kind", "note")
    fields.setdefault("scope_id", "scope")
    return Event(id=f"e{n}", ts=float(n), **fields)


def make_artifact(n: int, **fields: Any) -> Artifact:
    """Artifact ``a<n>`` created at time ``n``."""
    sha = hashlib.sha256(str(n).encode()).hexdigest()
    fields.setdefault("kind", "file")
    return Artifact(
        id=f"a{n}", uri=f"artifact://{sha}", sha256=sha, size=n, created_at=float(n), **fields
    )


def make_wait(wait_id: str, run_id: str = "r1", **fields: Any) -> WaitRecord:
    """An open wait of node ``n``."""
    return WaitRecord(wait_id=wait_id, run_id=run_id, node_id="n", kind="ask", prompt="?", **fields)
