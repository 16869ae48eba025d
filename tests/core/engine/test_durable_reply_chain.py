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
