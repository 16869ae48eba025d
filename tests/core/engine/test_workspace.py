"""SPEC section 1: one workspace folder holds everything, and another process sees it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from aethergraph import NodeContext, graph_fn, run
from aethergraph.runtime import list_runs
from aethergraph.runtime import workspace as current_workspace

if TYPE_CHECKING:
    from pathlib import Path

SESSION = "shared-session"

READER_SCRIPT = """
import json
import sys

from aethergraph import graph_fn, run
from aethergraph.runtime import list_runs, workspace

artifact_id = sys.argv[1]


@graph_fn
async def reader(*, context):
    found = await context.memory().search("cross process")
    text = await context.artifacts().load_text(artifact_id)
    value = await context.kv().get("shared-key")
    return {"found": [e.text for e in found], "artifact": text, "kv": value}


runs_before = [
    {"run_id": r.run_id, "graph_id": r.graph_id, "status": str(r.status)} for r in list_runs()
]
out = run(reader, session_id=sys.argv[2])
print(json.dumps({"workspace": workspace(), "runs": runs_before, "read": out}))
"""


@graph_fn
async def writer(*, context: NodeContext) -> dict[str, Any]:
    await context.memory().record("note", "written by another process", text="cross process note")
    artifact = await context.artifacts().save_text("artifact body from the first process")
    await context.kv().set("shared-key", {"n": 1})
    return {"artifact_id": artifact.id, "run_id": context.run_id}


def test_runs_are_kept_in_the_configured_workspace(workspace: Path) -> None:
    assert current_workspace() == str(workspace)
    run(writer, session_id=SESSION)
    assert (workspace / "aethergraph.db").exists()
    assert [r.graph_id for r in list_runs()] == ["writer"]


def test_a_second_process_opening_the_workspace_sees_runs_memory_and_artifacts(
    workspace: Path, tmp_path: Path
) -> None:
    out = run(writer, session_id=SESSION)
    script = tmp_path / "reader.py"
    script.write_text(READER_SCRIPT)
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(workspace)}
    done = subprocess.run(
        [sys.executable, str(script), out["artifact_id"], SESSION],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["workspace"] == str(workspace)
    assert seen["runs"] == [{"run_id": out["run_id"], "graph_id": "writer", "status": "succeeded"}]
    assert seen["read"] == {
        "found": ["cross process note"],
        "artifact": "artifact body from the first process",
        "kv": {"n": 1},
    }
    # ... and the reader's own run is visible here in turn.
    assert [r.graph_id for r in list_runs()] == ["reader", "writer"]
