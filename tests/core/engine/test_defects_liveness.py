"""Issue 9, defect 6: an owner killed a moment ago (a zombie not yet reaped) counts as dead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROGRAM = Path(__file__).parent / "programs" / "crash_chain.py"


def test_a_run_whose_owner_is_a_zombie_resumes_at_once(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AETHERGRAPH_WORKSPACE": str(tmp_path / "ws"),
        "AG_TEST_SIDE_EFFECTS": str(tmp_path / "side_effects.txt"),
    }
    owner = subprocess.Popen(  # SIGKILLs itself at node 3
        [sys.executable, str(PROGRAM), "run", "zombie-run"],
        env={**env, "AG_TEST_KILL_AT": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Wait for it to die but leave it unreaped: a zombie, as right after a SIGKILL.
        os.waitid(os.P_PID, owner.pid, os.WEXITED | os.WNOWAIT)
        state = Path(f"/proc/{owner.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z"
        resumed = subprocess.run(
            [sys.executable, str(PROGRAM), "run", "zombie-run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "RESULT" in resumed.stdout
    finally:
        owner.wait(timeout=10)
