"""``aethergraph serve`` and the CLI dispatching through the Ray executor, on PostgreSQL.

Each command runs in a process of its own that joins the session's Ray cluster as another driver,
configured by the environment (AETHERGRAPH_EXECUTOR=ray and the cluster's address).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.ray.test_ray_executor import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
AETHERGRAPH = str(Path(sys.executable).with_name("aethergraph"))


@pytest.fixture
def ray_env(ray_cluster: Any, ray_database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a command that dispatches its runs to the session's Ray cluster."""
    env = {
        **os.environ,
        "AETHERGRAPH_DATABASE_URL": ray_database_url,
        "AETHERGRAPH_EXECUTOR": "ray",
        "AETHERGRAPH_RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address,
        "AETHERGRAPH_NUM_WORKERS": "1",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path / "home"),  # nothing lands in the real home folder
    }
    env.pop("AETHERGRAPH_WORKSPACE", None)
    return env


def sockets_of(pid: int) -> list[str]:
    lines = subprocess.run(
        ["ss", "-tanpH"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.splitlines()
    return [line for line in lines if f"pid={pid}," in line]


@pytest.fixture
def sidecar(ray_env: dict[str, str]) -> Iterator[tuple[httpx.Client, int]]:
    """``aethergraph serve`` on 127.0.0.1:0 with the Ray executor: an API client, its pid."""
    server = subprocess.Popen(
        [AETHERGRAPH, "serve", "--load-module", "tests.ray.graphs", "--port", "0"],
        cwd=REPO,
        env=ray_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.search(r"serving (http://127\.0\.0\.1:\d+)/ui/", line)
        assert found, line + (server.stderr.read() if server.poll() is not None else "")
        with httpx.Client(base_url=f"{found.group(1)}/api/v1", timeout=60) as api:
            yield api, server.pid
    finally:
        server.terminate()
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate(timeout=10)


def streamed(api: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    """The run's events from the page's event stream, until its final one."""
    with api.stream("GET", f"/runs/{run_id}/events/stream") as stream:
        return [
            json.loads(line.removeprefix("data: "))
            for line in stream.iter_lines()
            if line.startswith("data: ")
        ]


def test_a_run_started_over_http_executes_on_a_ray_worker_and_streams_its_events(
    sidecar: tuple[httpx.Client, int],
) -> None:
    api, server_pid = sidecar
    started = api.post("/graphs/ray_echo/runs", json={"inputs": {"i": 5}})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    events = streamed(api, run_id)
    assert [e["data"]["status"] for e in events if e["type"] == "run_status"] == [
        "running",
        "succeeded",
    ]
    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "succeeded"
    assert run["outputs"]["i"] == 5
    assert run["outputs"]["pid"] not in (server_pid, os.getpid())  # on a worker
    mine = sockets_of(server_pid)
    assert mine, "no socket of the sidecar found"
    for line in mine:
        state, local, peer = line.split()[0], *line.split()[3:5]
        for address in [local] if state == "LISTEN" else [local, peer]:
            assert address.rsplit(":", 1)[0] in LOOPBACK, line


def test_a_run_waiting_on_ray_is_answered_on_the_page_and_finishes_on_a_worker(
    sidecar: tuple[httpx.Client, int],
) -> None:
    api, server_pid = sidecar
    started = api.post("/graphs/ray_ask/runs", json={"inputs": {"question": "Merge?"}})
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + 60
    while (run := api.get(f"/runs/{run_id}").json())["status"] != "waiting":
        assert time.monotonic() < deadline, run
        assert run["status"] != "failed", (
            run["error"],
            run.get("started_at"),
            [
                (e["seq"], e["type"], e["ts"], e["data"].get("status") or e["data"].get("wait_id"))
                for e in api.get(f"/runs/{run_id}/events").json()["items"]
            ],
        )
        time.sleep(0.05)
    waits = api.get("/waits", params={"run_id": run_id}).json()["items"]
    (wait,) = waits
    assert wait["prompt"] == "Merge?"
    replied = api.post(f"/waits/{wait['wait_id']}/reply", json={"text": "merged"})
    assert replied.status_code == 202, replied.text
    events = streamed(api, run_id)
    assert "wait_answered" in [e["type"] for e in events]
    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "succeeded", run
    assert run["outputs"]["answer"] == "merged"
    assert run["outputs"]["pid"] not in (server_pid, os.getpid())


def test_aethergraph_run_dispatches_to_a_ray_worker(ray_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [AETHERGRAPH, "run", "tests.ray.graphs:echo", "--inputs", '{"i": 4}', "--json"],
        cwd=REPO,
        env=ray_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    report = json.loads(out)
    assert report["status"] == "succeeded"
    assert report["outputs"]["i"] == 4
    assert report["outputs"]["pid"] not in (proc.pid, os.getpid())


def test_a_ray_address_without_the_ray_executor_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [AETHERGRAPH, "run", "tests.ray.graphs:echo", "--ray-address", "auto"],
        cwd=REPO,
        env={**os.environ, "AETHERGRAPH_WORKSPACE": str(tmp_path), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--ray-address auto (or AETHERGRAPH_RAY_ADDRESS) needs --executor ray" in done.stderr


async def test_mcp_serve_runs_tools_on_ray_workers_and_its_reply_command_resumes_them(
    ray_env: dict[str, str], ray_database_url: str
) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from aethergraph.core.engine.runtime import current_runtime
    from aethergraph.runtime import get_run_async

    serve = ["mcp", "serve", "--load-module", "tests.ray.graphs", "--http", "--port", "0"]
    server = await asyncio.create_subprocess_exec(
        AETHERGRAPH,
        *serve,
        cwd=REPO,
        env=ray_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert server.stderr is not None
    try:
        line = (await server.stderr.readline()).decode()
        assert line.startswith("MCP server at "), line
        drained = asyncio.ensure_future(server.stderr.read())  # the pipe never fills up
        async with (
            streamable_http_client(line.split()[-1]) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            done = await session.call_tool("ray_echo", {"i": 6})
            assert not done.is_error, done.content
            assert done.structured_content is not None
            outputs = done.structured_content["outputs"]
            assert outputs["i"] == 6
            assert outputs["pid"] not in (server.pid, os.getpid())  # on a worker
            asked = await session.call_tool("ray_ask", {"question": "Tag it?"})
            assert asked.structured_content is not None
            assert asked.structured_content["status"] == "waiting"
            how = asked.structured_content["how_to_answer"]
        # The command the result gives reaches the same store (no workspace of its own) and
        # executor; the server holding the run sends it to a worker.
        assert "--executor ray" in how
        assert "--workspace" not in how
        command = shlex.split(how.replace("ANSWER", "tagged"))
        assert command[0] == "aethergraph"
        replied = await asyncio.create_subprocess_exec(
            AETHERGRAPH, *command[1:], cwd=REPO, env=ray_env
        )
        assert await replied.wait() == 0
        run_id = asked.structured_content["run_id"]
        with current_runtime().scoped() as runtime:
            runtime.configure(database_url=ray_database_url)
            async with asyncio.timeout(60):
                while (record := await get_run_async(run_id)).status != "succeeded":
                    assert not record.status.is_terminal, record
                    await asyncio.sleep(0.05)
        assert record.outputs is not None
        assert record.outputs["answer"] == "tagged"
        assert record.outputs["pid"] not in (server.pid, os.getpid())
        drained.cancel()
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 60)
        except TimeoutError:
            server.kill()
            await server.wait()
