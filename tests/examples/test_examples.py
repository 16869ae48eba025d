"""Every program in ``examples/`` runs to completion on its own and prints what it promises.

Each one runs as a fresh ``python`` process in a temporary folder, with its workspace there too.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import aethergraph.runtime
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import RunNotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT_S = 30
RELEASE_RUN = "release-1.2.0"

# A line (regular expression) each program must print.
EXPECTED = {
    "agent_with_tools.py": r"tool calls ran as child nodes: \[.*'llm_chat_1\.unit_price_1'",
    "blocking_compute.py": r"ctx\(\) in thread 'asyncio_\d+': run_id=run-\S+ node_id=crunch_\d",
    "callable_predictor.py": r"same result: True, predictor calls: 2",
    "durable_agent.py": r"resumed: \{'notes': \['alpha: 5 letters'.*'receipt': 'sent'\}",
    "fake_swap_in_test.py": r"all checks passed",
    "llm_chat.py": r"capital: Oslo \(Norway\)",
    "mcp_filesystem.py": r"graph node read: 'MCP servers are services too\.'",
    "memory_and_artifacts.py": r"memory search 'loss' \(kind training\): 3 event\(s\)",
    "quickstart.py": r"\{'greeting': 'Hello, Ada!', 'shout': 'HELLO, ADA!!!'\}",
    "rate_limited_api.py": r"api_factory +replies=20 remaining=80 max_in_flight=1",
    "service_lifecycle.py": r"starts=2 closes=2",
    "storage_wrapper.py": r"same as the original: True",
    "trainer_submit_and_wait.py": r"outputs: \{'job_id': 'job-0001', 'done': True\}",
}


def run_example(path: Path, workspace: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_every_example_has_an_expected_line() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.timeout(TIMEOUT_S + 10)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_its_key_line(name: str, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    done = run_example(EXAMPLES / name, workspace, tmp_path)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(EXPECTED[name], done.stdout), f"{name} printed:\n{done.stdout}"
    assert "Traceback" not in done.stderr, done.stderr


def test_main_demo_runs_are_visible_to_another_process(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    done = run_example(EXAMPLES / "memory_and_artifacts.py", workspace, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (workspace / "aethergraph.db").is_file()
    assert any((workspace / "artifacts" / "sha256").rglob("*"))

    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import aethergraph.runtime as rt\n"
            "for r in rt.list_runs(): print(r.graph_id, r.status, r.session_id)",
        ],
        cwd=tmp_path,
        env={**os.environ, "AETHERGRAPH_WORKSPACE": str(workspace)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    assert reader.stdout.splitlines() == [
        "review_sweep succeeded lr-sweep",
        "lr_sweep succeeded lr-sweep",
    ]


def test_the_readme_quickstart_is_examples_quickstart() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
    quickstart = (EXAMPLES / "quickstart.py").read_text(encoding="utf-8")
    body = quickstart.split('"""', 2)[2].lstrip("\n")
    assert body in blocks, "README's quickstart block differs from examples/quickstart.py"


def readme_block(containing: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"expected one README block containing {containing!r}"
    return found[0]


def release_status(workspace: Path) -> str | None:
    if not (workspace / "aethergraph.db").exists():
        return None
    try:
        return aethergraph.runtime.get_run(RELEASE_RUN, workspace=workspace).status
    except RunNotFoundError:
        return None


def stop_release_while_it_waits(folder: Path, workspace: Path) -> None:
    """Run the README's release graph until it waits for approval, then kill its process."""
    (folder / "release.py").write_text(readme_block('@graphify(name="release"'))
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(workspace)}
    with subprocess.Popen(
        [sys.executable, "release.py"],
        cwd=folder,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while release_status(workspace) != "waiting":
                assert proc.poll() is None, "release.py ended instead of waiting for approval"
                assert time.monotonic() < deadline, "the release run never started waiting"
                time.sleep(0.02)
        finally:
            proc.kill()
    assert release_status(workspace) == "waiting"


@pytest.fixture
def release_workspace(tmp_path: Path) -> Iterator[Path]:
    workspace = tmp_path / "workspace"
    stop_release_while_it_waits(tmp_path, workspace)
    try:
        yield workspace
    finally:
        asyncio.run(current_runtime().storage(workspace).close())


@pytest.mark.timeout(3 * TIMEOUT_S)
def test_readme_reply_from_another_process_resumes_the_waiting_run(
    release_workspace: Path,
) -> None:
    folder = release_workspace.parent
    (folder / "answer.py").write_text(readme_block("aethergraph.runtime.reply("))
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(release_workspace)}
    done = subprocess.run(
        [sys.executable, "answer.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "succeeded {'status': 'deployed: deploy 1.2.0 to production'}\n"

    again = subprocess.run(
        [sys.executable, "release.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert again.stdout == "{'status': 'deployed: deploy 1.2.0 to production'}\n", again.stderr


@pytest.mark.timeout(3 * TIMEOUT_S)
def test_readme_running_again_with_the_run_id_resumes_the_waiting_run(
    release_workspace: Path,
) -> None:
    def make_plan_record() -> object:
        nodes = asyncio.run(current_runtime().storage(release_workspace).list_nodes(RELEASE_RUN))
        (record,) = [n for n in nodes if n.tool == "make_plan"]
        return record

    planned = make_plan_record()
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(release_workspace)}
    done = subprocess.run(
        [sys.executable, "release.py"],
        cwd=release_workspace.parent,
        env=env,
        input="Reject\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "{'status': 'not deployed'}"
    assert make_plan_record() == planned  # checkpointed before the wait, not run again
