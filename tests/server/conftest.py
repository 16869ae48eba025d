"""Every test here runs in its own workspace and leaves no service registered.

``api`` is an ``httpx.Client`` on a real server bound to ``127.0.0.1:0`` in this process.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from aethergraph import start_server, stop_server
from tests.server import flows  # noqa: F401 - defines the graphs the tests run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(autouse=True)
def _isolated_runtime(workspace: object, isolated_services: None) -> None:
    """Apply the shared isolation fixtures to every test in this folder."""


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    url = start_server(port=0)
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=10) as client:
            yield client
    finally:
        stop_server()


@pytest.fixture
def until(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    """``until(run_id, "succeeded", ...)``: poll the run until it has one of these statuses."""

    def poll(run_id: str, *statuses: str, timeout_s: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            run: dict[str, Any] = api.get(f"/runs/{run_id}").json()
            if run.get("status") in statuses:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} is {run.get('status')}, not in {statuses}")
            time.sleep(0.01)

    return poll
