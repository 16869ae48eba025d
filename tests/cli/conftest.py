"""The CLI runs as a real subprocess, through the ``aethergraph`` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

FLOWS = Path(__file__).parents[1] / "server" / "flows.py"
SCRIPT = Path(sys.executable).with_name("aethergraph")


class Result:
    """A finished CLI call: exit code, standard output and error."""

    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.code = done.returncode
        self.out = done.stdout
        self.err = done.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AETHERGRAPH_WORKSPACE"] = str(tmp_path / "workspace")
    env["AG_TEST_SIDE_EFFECTS"] = str(tmp_path / "side_effects.txt")
    env["COLUMNS"] = "200"
    env.pop("AETHERGRAPH_TOKEN", None)
    return env


@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Callable[..., Result]:
    """``cli("runs", "list")``: run the console script in the test's workspace."""

    def call(*args: str, timeout_s: float = 30) -> Result:
        done = subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            env=cli_env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
        return Result(done)

    return call
