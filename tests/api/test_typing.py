"""Type checkers see the signature of decorated functions and the options of ``run``."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = """
from typing import Any

from aethergraph import graph_fn, run, tool


@tool(outputs=["y"])
async def inc(x: int) -> dict[str, int]:
    return {"y": x + 1}


@graph_fn(name="typed")
async def typed(x: int, label: str = "a") -> dict[str, Any]:
    out: dict[str, Any] = await inc(x=x)
    return out


async def use() -> None:
    await typed(x=1)
    await typed(1, label="b")
    await typed(y=1)  # line 21
    inc(x="one")  # line 22
    run(typed, {"x": 1}, run_id="r", max_concurency=2)  # line 23
"""


def test_decorated_functions_and_run_options_are_checked_by_mypy(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(sample)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["21", "22", "23"], proc.stdout
    assert 'Unexpected keyword argument "y"' in errors[0]
    assert 'incompatible type "str"; expected "int"' in errors[1]
    assert 'did you mean "max_concurrency"' in errors[2]
