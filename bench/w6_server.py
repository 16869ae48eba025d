"""W6: the sidecar server under load, against a bare FastAPI echo route served the same way.

- runs/s: 1,000 runs of a trivial graph_fn started through ``POST /graphs/{id}/runs`` with 50 in
  flight, spread over several ``httpx.AsyncClient``s, until every run is recorded succeeded;
- echo requests/s: the same load on a bare FastAPI ``POST /echo`` in its own uvicorn process;
- event latency: a node finishes (its event's ``ts``) until an SSE client has the event;
- the server's RSS after the 1,000 runs.

The server (``aethergraph serve``) and the echo app run in their own processes, the load here.
Run: ``.venv/bin/python bench/w6_server.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import report

RUNS = 1000
IN_FLIGHT = 50
CLIENTS = 5
LATENCY_RUNS = 60
SCRIPT = Path(sys.executable).with_name("aethergraph")

GRAPHS = """
import asyncio
from aethergraph import graph_fn, tool

@graph_fn(name="bench_trivial")
async def bench_trivial(x: int = 0) -> dict:
    return {"x": x}

@tool(outputs=["done"], name="bench_step")
async def bench_step(n: int) -> dict:
    return {"done": n}

@graph_fn(name="bench_paced")
async def bench_paced() -> dict:
    await asyncio.sleep(0.05)  # the SSE client is connected before the node runs
    return await bench_step(1)
"""

ECHO = """
import socket, sys, uvicorn
from fastapi import FastAPI
app = FastAPI()

@app.post("/echo", status_code=202)
async def echo(body: dict) -> dict:
    return {"ok": True}

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0)); sock.listen(128)
print(f"serving http://127.0.0.1:{sock.getsockname()[1]}/ui/", flush=True)
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
server.run(sockets=[sock])
"""


def start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    assert process.stdout is not None
    found = re.search(r"serving (http://\S+)/ui/", process.stdout.readline())
    assert found, "the server printed no URL"
    return process, found.group(1)


async def load(url: str, path: str, body: dict[str, Any]) -> tuple[float, list[str]]:
    """POST ``RUNS`` times with ``IN_FLIGHT`` at once over ``CLIENTS`` clients."""
    limits = httpx.Limits(max_connections=IN_FLIGHT // CLIENTS)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=60) for _ in range(CLIENTS)]
    gate = asyncio.Semaphore(IN_FLIGHT)
    ids: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            response = await clients[i % CLIENTS].post(path, json=body)
            assert response.status_code == 202, response.text
            ids.append(response.json().get("run_id", ""))

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(RUNS):
            group.create_task(one(i))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return elapsed, ids


async def until_all_succeeded(url: str, started: float) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while True:
            page = await client.get(
                "/api/v1/runs",
                params={"graph_id": "bench_trivial", "status": "succeeded", "limit": RUNS},
            )
            if len(page.json()["items"]) >= RUNS:
                return time.perf_counter() - started
            await asyncio.sleep(0.01)


async def event_latency(url: str) -> list[float]:
    """Milliseconds from a node's finish (its event ts) until the SSE client read the event."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=30) as client:
        for _ in range(LATENCY_RUNS):
            run_id = (await client.post("/graphs/bench_paced/runs", json={})).json()["run_id"]
            async with client.stream("GET", f"/runs/{run_id}/events/stream") as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    data = event["data"]
                    if event["type"] == "node" and data.get("status") == "succeeded":
                        latencies.append((time.time() - event["ts"]) * 1000)
    return latencies


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        graphs = Path(folder) / "bench_graphs.py"
        graphs.write_text(GRAPHS, encoding="utf-8")
        echo_app = Path(folder) / "echo_app.py"
        echo_app.write_text(ECHO, encoding="utf-8")
        env = dict(os.environ, AETHERGRAPH_WORKSPACE=str(Path(folder) / "workspace"))

        echo, echo_url = start([sys.executable, str(echo_app)], env)
        try:
            asyncio.run(load(echo_url, "/echo", {"inputs": {"x": 1}}))  # warm-up
            echo_s, _ = asyncio.run(load(echo_url, "/echo", {"inputs": {"x": 1}}))
        finally:
            echo.kill()
            echo.wait()

        server, url = start([str(SCRIPT), "serve", "--load-path", str(graphs), "--port", "0"], env)
        try:
            started = time.perf_counter()
            posted_s, ids = asyncio.run(
                load(url, "/api/v1/graphs/bench_trivial/runs", {"inputs": {"x": 1}})
            )
            done_s = asyncio.run(until_all_succeeded(url, started))
            rss = rss_mib(server.pid)
            latencies = sorted(asyncio.run(event_latency(url)))
        finally:
            server.terminate()
            server.wait(timeout=30)

    echo_rps = RUNS / echo_s
    runs_ps = RUNS / done_s
    report(
        "w6_server",
        [
            {"what": "echo route, requests/s", "value": round(echo_rps)},
            {"what": "runs accepted/s (202)", "value": round(RUNS / posted_s)},
            {"what": "runs started and completed/s", "value": round(runs_ps)},
            {"what": "runs/s : echo requests/s", "value": round(runs_ps / echo_rps, 2)},
            {"what": "event latency p50 ms", "value": round(statistics.median(latencies), 2)},
            {
                "what": "event latency p95 ms",
                "value": round(latencies[int(len(latencies) * 0.95)], 2),
            },
            {"what": "server RSS after 1,000 runs MiB", "value": round(rss, 1)},
            {"what": "distinct run ids", "value": len(set(ids))},
        ],
    )


if __name__ == "__main__":
    main()
