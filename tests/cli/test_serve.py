"""``aethergraph serve`` as a real process: the API it serves, a clean stop, and a restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.cli.conftest import FLOWS, SCRIPT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

_URL = re.compile(r"serving (http://\S+)/ui/")


class Served:
    """A running ``aethergraph serve`` process and a client on its API."""

    def __init__(self, env: dict[str, str], cwd: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [str(SCRIPT), "serve", "--load-path", str(FLOWS), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=cwd,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = _URL.search(line)
        if not found:
            self.process.kill()
            raise AssertionError(f"no URL in {line!r}; stderr: {self.process.communicate()[1]}")
        self.url = found.group(1)
        self.api = httpx.Client(base_url=f"{self.url}/api/v1", timeout=10)
        self.err_text = ""

    def stderr(self) -> str:
        """What the server wrote on standard error (once it has exited)."""
        return self.err_text

    def until(self, run_id: str, *statuses: str, timeout_s: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            run: dict[str, Any] = self.api.get(f"/runs/{run_id}").json()
            if run.get("status") in statuses:
                return run
            assert time.monotonic() < deadline, f"run {run_id} stayed {run.get('status')}"
            time.sleep(0.02)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.api.close()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        _, self.err_text = self.process.communicate(timeout=15)
        return self.process.returncode


@pytest.fixture
def serve(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*extra: str) -> Served:
        served = Served(cli_env, tmp_path, *extra)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop(signal.SIGKILL)


def test_serve_prints_the_page_url_and_stops_cleanly_on_sigterm(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    assert served.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{served.url}/ui/", timeout=10).status_code == 200
    graphs = {g["graph_id"] for g in served.api.get("/graphs").json()["items"]}
    assert {"arith", "approval", "greet"} <= graphs
    run_id = served.api.post("/graphs/arith/runs", json={"inputs": {"a": 1, "b": 1}}).json()[
        "run_id"
    ]
    assert served.until(run_id, "succeeded")["outputs"] == {"result": 4}
    assert served.stop(signal.SIGTERM) == 0
    assert "stopping" in served.stderr()


def test_a_wait_is_answered_over_http_after_the_server_was_killed_and_started_again(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    first = serve()
    run_id = first.api.post("/graphs/approval/runs", json={"inputs": {"item": "box"}}).json()[
        "run_id"
    ]
    first.until(run_id, "waiting")
    first.stop(signal.SIGKILL)

    second = serve()
    waits = second.api.get("/waits", params={"status": "open", "run_id": run_id}).json()["items"]
    assert [w["prompt"] for w in waits] == ["Ship it?"]
    reply = second.api.post(f"/waits/{waits[0]['wait_id']}/reply", json={"choice": "Ship"})
    assert reply.status_code == 202, reply.text
    run = second.until(run_id, "succeeded", "failed")
    assert run["status"] == "succeeded", run
    assert run["outputs"] == {"status": "T-box Ship"}
    # The node before the wait ran once, in the first process.
    effects = (tmp_path / "side_effects.txt").read_text(encoding="utf-8").split()
    assert effects == ["prep", "finish"]


def test_serve_beyond_loopback_requires_a_token(
    serve: Callable[..., Served], cli_env: dict[str, str], tmp_path: Path
) -> None:
    refused = subprocess.run(
        [str(SCRIPT), "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 2
    assert "token" in refused.stderr
    cli_env["AETHERGRAPH_TOKEN"] = "s3cret"
    served = serve("--host", "0.0.0.0")
    port = served.url.rsplit(":", 1)[1]
    local = f"http://127.0.0.1:{port}/api/v1/health"
    assert httpx.get(local, timeout=10).status_code == 401
    authorised = httpx.get(local, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert authorised.status_code == 200
    assert os.environ.get("AETHERGRAPH_TOKEN") != "s3cret"
