"""Every test here runs in its own workspace and leaves no service registered."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.testing import ManualClock, memory_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _isolated_runtime(workspace: object, isolated_services: None) -> None:
    """Apply the shared isolation fixtures to every test in this folder."""


@pytest.fixture(params=["sqlite", "memory"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test runs on the SQLite workspace and in memory: the behaviour must be the same."""
    if request.param == "memory":
        with memory_runtime():
            yield "memory"
    else:
        yield "sqlite"


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """A manual clock for this test's runs: their timeouts expire when the test advances it."""
    manual = ManualClock()
    with current_runtime().scoped(clock=manual):
        yield manual


async def block_forever(entered: asyncio.Event) -> None:
    """Say the body has started, then wait until cancelled (a timeout, say)."""
    entered.set()
    await asyncio.Event().wait()
