"""Issue 9, defects 11 and 19: logs can be shown with one call, and logging never raises."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from aethergraph import graph_fn, run
from aethergraph.runtime import RunStatus, get_run, list_logs

if TYPE_CHECKING:
    from pathlib import Path

PROGRAM = """
import sys
from aethergraph import graph_fn, run
from aethergraph.runtime import configure

@graph_fn(name="talks")
async def talks(*, context):
    context.logger().info("hello from the node")
    context.logger().error("an error from the node")
    return {"ok": 1}

if sys.argv[1] == "on":
    configure(log_level="info")
run(talks, run_id="run-talks-" + sys.argv[1])
"""


def run_program(tmp_path: Path, *args: str) -> str:
    program = tmp_path / "talks.py"
    program.write_text(textwrap.dedent(PROGRAM))
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(tmp_path / "ws"), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=50, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_run_logs_print_nothing_by_default(tmp_path: Path) -> None:
    output = run_program(tmp_path, str(tmp_path / "talks.py"), "off")
    assert "hello from the node" not in output
    assert "an error from the node" not in output


def test_configure_log_level_prints_run_logs_with_run_and_node_ids(tmp_path: Path) -> None:
    output = run_program(tmp_path, str(tmp_path / "talks.py"), "on")
    line = next(x for x in output.splitlines() if "hello from the node" in x)
    assert "run-talks-on" in line
    assert "root" in line
    assert "an error from the node" in output


def test_the_cli_log_level_option_prints_run_logs(tmp_path: Path) -> None:
    (tmp_path / "talks.py").write_text(textwrap.dedent(PROGRAM).split("if sys.argv")[0])
    output = run_program(
        tmp_path, "-m", "aethergraph", "--log-level", "info", "run", f"{tmp_path}/talks.py:talks"
    )
    assert "hello from the node" in output


@graph_fn(name="logs_oddly")
async def logs_oddly(*, context: Any) -> dict[str, int]:
    log = context.logger()
    log.info("huge %s", "int", extra={"n": 10**5000, "nested": {"m": -(10**5000)}})
    log.info("a file named file-\udcff.txt", extra={"name": "file-\udcff.txt"})
    return {"ok": 1}


def test_logging_odd_values_never_raises_and_keeps_readable_records() -> None:
    assert run(logs_oddly, run_id="odd-logs") == {"ok": 1}
    assert get_run("odd-logs").status is RunStatus.SUCCEEDED
    entries = list_logs("odd-logs")
    assert entries[0].extra["n"] == "<int of 16610 bits>"
    assert entries[0].extra["nested"] == {"m": "<int of 16610 bits>"}
    assert entries[1].message == "a file named file-\\udcff.txt"
    assert entries[1].extra["name"] == "file-\\udcff.txt"
