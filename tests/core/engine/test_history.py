"""Reading what runs left behind, from outside any run, through aethergraph.runtime."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from aethergraph import graph_fn, run, tool
from aethergraph.runtime import (
    list_artifacts,
    list_logs,
    list_nodes,
    list_waits,
    read_artifact,
    search_memory,
)

if TYPE_CHECKING:
    from pathlib import Path


@tool(outputs=["doubled"])
async def double(x: int, *, context: Any) -> dict[str, int]:
    context.logger().info("doubling %s", x)
    return {"doubled": 2 * x}


@graph_fn(name="leaves_traces")
async def leaves_traces(x: int, *, context: Any) -> dict[str, Any]:
    out = await double(x=x)
    await context.memory().record("note", {"x": x}, text=f"quartz observation {x}")
    art = await context.artifacts().save_text(f"report {x}", kind="report", name="r.txt")
    return {"doubled": out["doubled"], "artifact": art.id}


def test_a_runs_nodes_logs_memory_and_artifacts_read_back_after_it_ends(workspace: Path) -> None:
    out = run(leaves_traces, {"x": 4}, session_id="s1")
    run_id = search_memory("quartz", session_id="s1")[0].run_id
    assert run_id is not None
    assert [n.tool for n in list_nodes(run_id)] == ["double"]
    assert [e.message for e in list_logs(run_id)] == ["doubling 4"]
    assert search_memory("quartz", run_id=run_id)[0].data == {"x": 4}
    assert search_memory("no-such-word", session_id="s1") == []
    (artifact,) = list_artifacts(run_id=run_id, kind="report")
    assert artifact.id == out["artifact"]
    assert read_artifact(artifact.id) == b"report 4"
    assert list_waits(run_id=run_id) == []


def test_another_process_reads_the_same_history(workspace: Path) -> None:
    out = run(leaves_traces, {"x": 7})
    script = textwrap.dedent(
        f"""
        from aethergraph.runtime import configure, list_runs, list_nodes, read_artifact
        configure(workspace={str(workspace)!r})
        (rec,) = [r for r in list_runs() if r.graph_id == "leaves_traces"]
        print([n.tool for n in list_nodes(rec.run_id)], read_artifact({out["artifact"]!r}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['double'] b'report 7'"
