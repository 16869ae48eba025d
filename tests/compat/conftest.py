"""Programs written for the published AetherGraph API, each run in its own SQLite workspace."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_runtime(workspace: object, isolated_services: None) -> None:
    """Apply the shared isolation fixtures to every test in this folder."""
