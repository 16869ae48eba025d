"""Durable graph_fn: steps are journaled and replayed; runs survive crashes, restarts and waits."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from aethergraph import NodeContext, Service, graph_fn, run_async, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import JournalMismatchError
from aethergraph.runtime import (
    RunStatus,
    get_run,
    list_nodes,
    list_nodes_async,
    list_run_events_async,
)
from aethergraph.services.runtime.base import current_context
from aethergraph.testing import scripted_llm

PROGRAM = Path(__file__).parent / "programs" / "durable_agent.py"
EXPECTED = {"total": 210, "squares": [1, 4, 9, 16, 25]}
STEPS = [f"add{n:02d}" for n in range(1, 21)] + ["ledger"] + [f"square{n}" for n in range(1, 6)]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.side = root / "side.txt"
        self.env = {
            **os.environ,
            "AETHERGRAPH_WORKSPACE": str(root / "ws"),
            "AG_TEST_SIDE_EFFECTS": str(self.side),
        }

    def call(self, *args: str, **env: str) -> tuple[str, Any, subprocess.CompletedProcess[str]]:
        proc = subprocess.run(
            [sys.executable, str(PROGRAM), *args],
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for line in reversed(proc.stdout.splitlines()):
            kind, _, payload = line.partition(" ")
            if kind in ("RESULT", "ERROR", "WAITING"):
                return kind, json.loads(payload), proc
        return "", None, proc

    def serve(self) -> subprocess.Popen[str]:
        """``aethergraph serve`` on this workspace with the program's graphs, on a free port."""
        return subprocess.Popen(
            [
                str(Path(sys.executable).with_name("aethergraph")),
                "serve",
                "--load-path",
                str(PROGRAM),
                "--port",
                "0",
            ],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def effects(self) -> Counter[str]:
        return Counter(self.side.read_text().split() if self.side.exists() else [])


def test_a_graph_fn_killed_at_any_step_resumes_and_runs_each_finished_step_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(11)
    duplicated = []
    for trial in range(30):
        ws = Workspace(tmp_path / f"trial{trial}")
        ws.root.mkdir()
        kill_at = rng.randint(1, len(STEPS))
        kind, _, crashed = ws.call("run", "run-crash", AG_TEST_KILL_AT=str(kill_at))
        assert crashed.returncode == -9, (kill_at, crashed.stdout, crashed.stderr)
        kind, outputs, resumed = ws.call("run", "run-crash")
        assert kind == "RESULT", resumed.stdout + resumed.stderr
        assert {k: outputs[k] for k in EXPECTED} == EXPECTED
        assert outputs["receipt"] == "run-crash/Ledger_commit_1:210"
        effects = ws.effects()
        assert set(effects) == set(STEPS), effects
        twice = [name for name, count in effects.items() if count > 1]
        # Only the step in flight at the kill (its side effect written, its record not) repeats.
        assert len(twice) <= 1, (kill_at, effects)
        assert all(effects[name] == 2 for name in twice), (kill_at, effects)
        duplicated.extend(twice)
        # Every step keeps its record, those replayed from the dead process's file included, and
        # once the run ended no step file is left with lines in it.
        kind, nodes, _ = ws.call("nodes", "run-crash")
        assert kind == "RESULT"
        assert sorted(nodes) == sorted(
            [f"add_step_{n}" for n in range(1, 21)]
            + [f"square_step_{n}" for n in range(1, 6)]
            + ["Ledger_commit_1"]
        ), (kill_at, nodes)
        assert set(nodes.values()) == {"succeeded"}, (kill_at, nodes)
        left = [p.read_bytes().strip(b"\0") for p in (ws.root / "ws" / "journal").glob("*.jsonl")]
        assert not any(left), (kill_at, left)
    print(f"steps run twice over 30 kills (in flight at the kill): {len(duplicated)}")


def test_a_graph_fn_waiting_for_an_answer_is_resumed_by_a_reply_from_another_process(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    kind, _, first = ws.call("ask", "run-ask")
    assert kind == "WAITING", first.stdout + first.stderr
    kind, record, second = ws.call("reply", "run-ask")
    assert kind == "RESULT", second.stdout + second.stderr
    assert record == {"status": "succeeded", "outputs": {"total": 6, "approved": True}}
    assert ws.effects() == Counter({"add01": 1, "add02": 1, "add03": 1})


def test_a_durable_sleep_survives_a_restart_and_wakes_at_its_time(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    # The first process dies right after the step before the sleep; the run is resumed in a
    # new process, which journals the wake-up time, sleeps and finishes.
    kind, _, crashed = ws.call("sleep", "run-nap", AG_TEST_KILL_AT="1", AG_TEST_SLEEP="0.3")
    assert crashed.returncode == -9
    kind, outputs, resumed = ws.call("sleep", "run-nap", AG_TEST_SLEEP="0.3")
    assert kind == "RESULT", resumed.stdout + resumed.stderr
    with current_runtime().scoped(workspace=tmp_path / "ws"):
        nodes = {n.node_id: n for n in list_nodes("run-nap")}
    wake = nodes["sleep_1"].outputs["result"]  # type: ignore[index]
    assert outputs["total"] == 3
    assert outputs["woke"] >= wake
    assert ws.effects()["add02"] == 1


async def test_resumed_steps_return_their_records_without_executing_again(workspace: Path) -> None:
    calls: list[int] = []
    fail = {"on": True}

    @tool(outputs=["y"], name="counted")
    async def counted(x: int) -> dict[str, Any]:
        calls.append(x)
        return {"y": x * 10}

    @graph_fn(name="replays")
    async def replays(*, context: NodeContext) -> dict[str, Any]:
        a = await counted(x=1)
        b = await counted(x=2)
        token = await context.uuid()
        if fail["on"]:
            raise RuntimeError("crash after two steps")
        c = await counted(x=3)
        return {"sum": a["y"] + b["y"] + c["y"], "token": token}

    with pytest.raises(RuntimeError, match="crash after two steps"):
        await run_async(replays, run_id="run-replays")
    first_token = next(
        n.outputs["result"]  # type: ignore[index]
        for n in await list_nodes_async("run-replays")
        if n.node_id == "uuid_1"
    )
    fail["on"] = False
    outputs = await run_async(replays, run_id="run-replays")
    assert outputs == {"sum": 60, "token": first_token}
    assert calls == [1, 2, 3]
    replayed = [
        e.data["node_id"]
        for e in await list_run_events_async("run-replays")
        if e.type == "node" and e.data.get("replayed")
    ]
    assert replayed == ["counted_1", "counted_2", "uuid_1"]
    # The steps written ahead of their commit are dropped once the run's final record is in.
    assert not any(p.read_bytes().strip(b"\0") for p in (workspace / "journal").glob("*.jsonl"))


async def test_a_step_that_failed_and_was_handled_replays_as_failed() -> None:
    attempts: list[str] = []
    crash = {"on": True}

    @tool(outputs=["y"], name="flaky_once")
    async def flaky(x: int) -> dict[str, Any]:
        attempts.append("flaky")
        raise ValueError("no luck")

    @tool(outputs=["y"], name="fallback")
    async def fallback(x: int) -> dict[str, Any]:
        attempts.append("fallback")
        return {"y": -x}

    @graph_fn(name="handles_failure")
    async def handles() -> dict[str, Any]:
        try:
            out = await flaky(x=1)
        except ValueError:
            out = await fallback(x=1)
        if crash["on"]:
            raise RuntimeError("crash")
        return out

    with pytest.raises(RuntimeError):
        await run_async(handles, run_id="run-handled")
    crash["on"] = False
    assert await run_async(handles, run_id="run-handled") == {"y": -1}
    assert attempts == ["flaky", "fallback"]


async def test_resuming_after_the_function_changed_is_refused_naming_the_steps() -> None:
    @tool(outputs=["y"], name="step_a")
    async def step_a() -> dict[str, Any]:
        return {"y": 1}

    @tool(outputs=["y"], name="step_b")
    async def step_b() -> dict[str, Any]:
        return {"y": 2}

    @graph_fn(name="evolving")
    async def first_version() -> dict[str, Any]:
        await step_a()
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        await run_async(first_version, run_id="run-evolving")

    @graph_fn(name="evolving")
    async def second_version() -> dict[str, Any]:
        return await step_b()

    with pytest.raises(JournalMismatchError, match=r"recorded step 'step_a_1'.*calls 'step_b_1'"):
        await run_async(second_version, run_id="run-evolving")


async def test_a_service_step_is_called_once_and_knows_its_stable_key() -> None:
    keys: list[str] = []
    crash = {"on": True}

    class Payments(Service):
        @Service.step
        async def charge(self, amount: int) -> str:
            ctx = current_context()
            if ctx is not None:
                keys.append(ctx.step_key)
            return f"charged {amount}"

    payments = Payments()

    @graph_fn(name="pays")
    async def pays() -> dict[str, Any]:
        receipt = await payments.charge(5)
        if crash["on"]:
            raise RuntimeError("crash")
        return {"receipt": receipt}

    with pytest.raises(RuntimeError):
        await run_async(pays, run_id="run-pays")
    crash["on"] = False
    assert await run_async(pays, run_id="run-pays") == {"receipt": "charged 5"}
    assert keys == ["run-pays/Payments_charge_1"]
    assert await payments.charge(7) == "charged 7"  # outside a run: a plain call


def test_a_waiting_graph_fn_is_answered_through_the_http_api_of_aethergraph_serve(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    kind, _, first = ws.call("ask", "run-served")
    assert kind == "WAITING", first.stdout + first.stderr
    server = ws.serve()
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.search(r"serving (http://\S+)/ui/", line)
        assert found, line
        with httpx.Client(base_url=f"{found.group(1)}/api/v1", timeout=10) as api:
            (wait,) = api.get("/waits", params={"run_id": "run-served"}).json()["items"]
            reply = api.post(f"/waits/{wait['wait_id']}/reply", json={"choice": "Approve"})
            assert reply.status_code == 202, reply.text
            deadline = time.monotonic() + 20
            while (run := api.get("/runs/run-served").json())["status"] != "succeeded":
                assert run["status"] in ("waiting", "running"), run
                assert time.monotonic() < deadline, run
                time.sleep(0.02)
        assert run["outputs"] == {"total": 6, "approved": True}
        assert ws.effects() == Counter({"add01": 1, "add02": 1, "add03": 1})
    finally:
        server.kill()
        server.communicate(timeout=10)


def test_a_run_whose_process_died_asleep_is_woken_on_time_by_the_server(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    sleeper = subprocess.Popen(
        [sys.executable, str(PROGRAM), "sleep", "run-asleep"],
        env={**ws.env, "AG_TEST_SLEEP": "1.5"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with current_runtime().scoped(workspace=tmp_path / "ws"):
        deadline = time.monotonic() + 20
        while not any(n.node_id == "sleep_1" for n in _nodes("run-asleep")):
            assert time.monotonic() < deadline, "the run never started its sleep"
            time.sleep(0.02)
        sleeper.kill()  # dies asleep: nobody hosts the run any more
        sleeper.wait(timeout=10)
        wake = next(n for n in _nodes("run-asleep") if n.node_id == "sleep_1").outputs["result"]  # type: ignore[index]
        server = ws.serve()
        try:
            deadline = time.monotonic() + 30
            while (record := get_run("run-asleep")).status is not RunStatus.SUCCEEDED:
                assert record.status in (RunStatus.INTERRUPTED, RunStatus.RUNNING), record
                assert time.monotonic() < deadline, record
                time.sleep(0.02)
        finally:
            server.kill()
            server.communicate(timeout=10)
    assert record.outputs is not None
    assert record.outputs["total"] == 3
    assert record.outputs["woke"] >= wake
    assert ws.effects() == Counter({"add01": 1, "add02": 1})


def _nodes(run_id: str) -> list[Any]:
    try:
        return list_nodes(run_id)
    except KeyError:  # the run is not recorded yet
        return []


async def test_a_model_reply_is_a_step_a_resumed_run_gets_back_without_asking_again() -> None:
    crash = {"on": True}

    @tool(outputs=["n"], name="count_words")
    async def count_words(text: str) -> dict[str, Any]:
        return {"n": len(text.split())}

    @graph_fn(name="asks_a_model")
    async def asks(*, context: NodeContext) -> dict[str, Any]:
        text, usage = await context.llm().chat("say three words")
        words = await count_words(text=text)
        if crash["on"]:
            raise RuntimeError("crash after the model answered")
        return {"text": text, "n": words["n"], "model": usage["model"]}

    with scripted_llm(["red green blue", "a different answer"]) as llm:
        with pytest.raises(RuntimeError):
            await run_async(asks, run_id="run-asks-model")
        crash["on"] = False
        outputs = await run_async(asks, run_id="run-asks-model")
    assert outputs == {"text": "red green blue", "n": 3, "model": "scripted"}
    assert len(llm.prompts) == 1  # the resumed run did not ask the model again
