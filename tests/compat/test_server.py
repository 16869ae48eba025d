"""``start_server`` with the published API's keyword arguments, and its older module path."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import TYPE_CHECKING

import pytest

from aethergraph import graph_fn, run
from aethergraph.errors import ConfigurationError
from aethergraph.runtime import workspace as current_workspace
from aethergraph.server.start import start, stop

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def aethergraph_level_restored() -> Iterator[None]:
    logger = logging.getLogger("aethergraph")
    level = logger.level
    yield
    logger.setLevel(level)


def test_start_with_port_log_level_and_workspace(
    tmp_path: Path, aethergraph_level_restored: None
) -> None:
    folder = tmp_path / "served"
    url = start(port=0, log_level="info", workspace=str(folder))
    try:
        assert current_workspace() == str(folder)
        assert logging.getLogger("aethergraph").level == logging.INFO

        @graph_fn(name="compat_served")
        async def hello() -> dict[str, str]:
            return {"hi": "there"}

        assert run(hello) == {"hi": "there"}
        with urllib.request.urlopen(f"{url}/api/v1/runs", timeout=10) as response:
            listed = json.load(response)
        assert "compat_served" in json.dumps(listed)
    finally:
        stop()


def test_an_unknown_keyword_lists_the_accepted_ones_and_suggests_the_close_one() -> None:
    with pytest.raises(ConfigurationError, match=r"accepts host, port, token.*'log_level'"):
        start(port=0, loglevel="info")


def test_an_unknown_log_level_names_the_levels() -> None:
    with pytest.raises(ConfigurationError, match="use one of critical, error, warning, info"):
        start(port=0, log_level="loud")
