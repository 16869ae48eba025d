"""A reply from a process that does not host a run returns when it finishes or waits again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROGRAM = Path(__file__).parent / "programs" / "two_questions.py"


def _run(workspace: Path, *args: str) -> str:
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(workspace)}
    done = subprocess.run(
        [sys.executable, str(PROGRAM), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    return done.stdout


def _result(stdout: str) -> dict[str, Any]:
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]


def test_each_reply_resumes_the_run_up_to_its_next_question(tmp_path: Path) -> None:
    assert "WAITING" in _run(tmp_path, "start", "run-two")
    first = _result(_run(tmp_path, "text", "run-two", "Ada"))
    assert first == {"status": "waiting", "outputs": None}
    second = _result(_run(tmp_path, "choice", "run-two", "Approve"))
    assert second == {"status": "succeeded", "outputs": {"message": "Ada approved"}}


def test_a_non_interactive_run_of_a_console_question_exits_and_leaves_the_run_waiting(
    tmp_path: Path,
) -> None:
    """Nobody can answer on a closed stdin without a server: run() says so instead of hanging."""
    env = {
        **os.environ,
        "AETHERGRAPH_WORKSPACE": str(tmp_path),
        "AG_TEST_SIDE_EFFECTS": str(tmp_path / "effects.txt"),
        "PYTHONPATH": str(PROGRAM.parent),
    }
    script = (
        "import approval_flow\n"
        "from aethergraph import run\n"
        "run(approval_flow.FLOWS['console'], {'item': 'box'}, run_id='run-closed-stdin')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode != 0
    assert "RunWaitingError" in done.stderr
    assert "Ship it?" in done.stdout  # the question was still asked on the console
    answer = (
        "import approval_flow\n"
        "from aethergraph.runtime import reply\n"
        "print(reply('run-closed-stdin', choice='Approve').outputs)\n"
    )
    replied = subprocess.run(
        [sys.executable, "-c", answer],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert "T-box approved (Approve)" in replied.stdout
