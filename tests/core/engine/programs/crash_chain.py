"""A 20-node @graphify chain that a test kills mid-run and resumes in a new process.

Usage: ``python crash_chain.py run RUN_ID`` or ``python crash_chain.py status RUN_ID``.

Runs live in ``AETHERGRAPH_WORKSPACE``. Each node appends its id to the file named by
``AG_TEST_SIDE_EFFECTS`` before it returns; the node whose number is ``AG_TEST_KILL_AT`` sends
this process SIGKILL right after writing, so it dies with that node in flight.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from aethergraph import graphify, run, tool
from aethergraph.runtime import get_run

LENGTH = 20


@tool(outputs=["total", "trail"], name="chain_step")
def chain_step(total: int, trail: list[int], n: int) -> dict[str, Any]:
    with open(os.environ["AG_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as fh:
        fh.write(f"n{n:02d}\n")
    if os.environ.get("AG_TEST_KILL_AT") == str(n):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"total": total * 2 + n, "trail": [*trail, n]}


@graphify(name="crash_chain", inputs={"start": 1}, outputs=["total", "trail"])
def crash_chain(start):
    total, trail = start, []
    for n in range(1, LENGTH + 1):
        step = chain_step(total, trail, n, _id=f"n{n:02d}")
        total, trail = step.total, step.trail
    return {"total": total, "trail": trail}


def main(argv: list[str]) -> int:
    mode, run_id = argv
    if mode == "run":
        outputs = run(crash_chain, {"start": 1}, run_id=run_id)
        print("RESULT " + json.dumps(outputs), flush=True)
        return 0
    if mode == "status":
        print("STATUS " + get_run(run_id).status, flush=True)
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
