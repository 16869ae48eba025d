"""Exactly once across processes: claims, replies, cancels and liveness, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import graphify, tool
from aethergraph.runtime import (
    RunStatus,
    get_run,
    list_nodes,
    list_run_events,
    list_waits,
    reply,
)
from aethergraph.tools import ask_approval

if TYPE_CHECKING:
    from collections.abc import Iterator

PROGRAMS = Path(__file__).parent / "programs"


class Shared:
    """A workspace shared by this process and the programs it starts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.side = root / "side_effects.txt"
        self.env = {
            **os.environ,
            "AETHERGRAPH_WORKSPACE": str(root / "workspace"),
            "AG_TEST_SIDE_EFFECTS": str(self.side),
        }
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, program: str, *args: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(PROGRAMS / program), *args],
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def call(self, program: str, *args: str, **env: str) -> tuple[str, Any]:
        proc = self.start(program, *args, **env)
        out, err = proc.communicate(timeout=30)
        return last_result(out, err)

    def side_effects(self) -> list[str]:
        return self.side.read_text().split() if self.side.exists() else []


def last_result(out: str, err: str = "") -> tuple[str, Any]:
    for line in reversed(out.splitlines()):
        kind, _, payload = line.partition(" ")
        if kind in ("RESULT", "ERROR", "WAITING", "DONE"):
            return kind, json.loads(payload) if payload else None
    raise AssertionError(f"no result in:\n{out}\n{err}")


def wait_started(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("STARTED"), line + (proc.stderr.read() if proc.stderr else "")


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Shared]:
    ws = Shared(tmp_path)
    try:
        yield ws
    finally:
        for proc in ws.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def in_shared(shared: Shared) -> Iterator[Shared]:
    """This process reads and writes the shared workspace too."""
    from aethergraph.core.engine.runtime import current_runtime

    with current_runtime().scoped(workspace=shared.root / "workspace"):
        yield shared


def test_the_same_graph_fn_run_id_in_two_live_processes_runs_its_body_once(shared: Shared) -> None:
    first = shared.start("lifecycle_flows.py", "hold_fn", "run-twice")
    wait_started(first)
    kind, error = shared.call("lifecycle_flows.py", "hold_fn", "run-twice")
    assert kind == "ERROR"
    assert error["type"] == "ConfigurationError"
    assert "another live process" in error["message"]
    assert shared.side_effects() == ["body"]


@pytest.mark.parametrize("mode", ["hold_fn", "hold_graph"])
def test_cancel_from_another_process_stops_the_run_within_a_second(
    shared: Shared, mode: str
) -> None:
    target = shared.start("lifecycle_flows.py", mode, "run-far-cancel")
    wait_started(target)
    assert shared.call("lifecycle_flows.py", "cancel", "run-far-cancel") == ("RESULT", "cancelled")
    asked = time.monotonic()
    out, err = target.communicate(timeout=10)
    assert time.monotonic() - asked < 1.0
    kind, error = last_result(out, err)
    assert (kind, error["type"]) == ("ERROR", "RunCancelledError")
    assert shared.call("lifecycle_flows.py", "status", "run-far-cancel") == ("RESULT", "cancelled")


def test_a_long_lived_reader_sees_a_run_whose_process_died_as_interrupted(
    in_shared: Shared,
) -> None:
    target = in_shared.start("lifecycle_flows.py", "hold_graph", "run-dies")
    wait_started(target)
    assert get_run("run-dies").status is RunStatus.RUNNING
    target.kill()
    target.communicate(timeout=10)
    assert get_run("run-dies").status is RunStatus.INTERRUPTED
    statuses = [e.data["status"] for e in list_run_events("run-dies") if e.type == "run_status"]
    assert statuses == ["running", "interrupted"]


def test_ctrl_c_during_a_run_leaves_it_interrupted_and_resumable(shared: Shared) -> None:
    target = shared.start("lifecycle_flows.py", "hold_graph", "run-ctrl-c")
    wait_started(target)
    target.send_signal(signal.SIGINT)
    out, err = target.communicate(timeout=10)
    assert last_result(out, err)[1]["type"] == "KeyboardInterrupt"
    assert shared.call("lifecycle_flows.py", "status", "run-ctrl-c") == ("RESULT", "interrupted")
    kind, _ = shared.call("lifecycle_flows.py", "hold_graph", "run-ctrl-c", AG_TEST_NO_HOLD="1")
    assert kind != "ERROR"
    assert shared.call("lifecycle_flows.py", "status", "run-ctrl-c") == ("RESULT", "succeeded")
    assert shared.side_effects() == ["body", "body"]


def test_two_processes_resuming_one_interrupted_run_execute_each_node_once(
    shared: Shared,
) -> None:
    crashed = shared.start("crash_chain.py", "run", "run-race", AG_TEST_KILL_AT="5")
    crashed.communicate(timeout=30)
    assert shared.side_effects() == [f"n{n:02d}" for n in range(1, 6)]
    racers = [shared.start("crash_chain.py", "run", "run-race") for _ in range(2)]
    outcomes = [r.communicate(timeout=30) for r in racers]
    effects = shared.side_effects()
    # n05 was in flight when its process died, so it ran twice; every later node runs once.
    assert effects == [f"n{n:02d}" for n in range(1, 6)] + [f"n{n:02d}" for n in range(5, 21)]
    results = [
        line for out, _ in outcomes for line in out.splitlines() if line.startswith("RESULT")
    ]
    assert results, outcomes


def test_four_processes_replying_at_once_resume_the_waiting_run_once(in_shared: Shared) -> None:
    shared = in_shared
    kind, _ = shared.call("approval_flow.py", "start", "run-four")
    assert kind == "WAITING"
    assert {n.node_id: n.status for n in list_nodes("run-four")}["approve"] == "waiting"
    repliers = [shared.start("approval_flow.py", "reply", "run-four", "Approve") for _ in range(4)]
    outcomes = [last_result(*r.communicate(timeout=30)) for r in repliers]
    assert shared.side_effects().count("finish") == 1
    finished = [p for kind, p in outcomes if kind == "RESULT" and p["status"] == "succeeded"]
    refused = [p for kind, p in outcomes if kind == "ERROR"]
    assert finished, outcomes
    # A refused reply says its question was answered elsewhere (the run may have finished).
    assert all("answered elsewhere" in p["message"] for p in refused), refused
    assert len(finished) + len(refused) == 4
    events = list_run_events("run-four")
    assert [e.type for e in events].count("wait_answered") == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_a_reply_whose_resume_fails_raises_and_leaves_the_wait_open(in_shared: Shared) -> None:
    kind, _ = in_shared.call("approval_flow.py", "start", "run-changed")
    assert kind == "WAITING"

    @tool(outputs=["ticket"], name="prep")
    def prep(item: str) -> dict[str, Any]:
        return {"ticket": item}

    @graphify(name="restart_wait_flow", inputs=["item"])
    def rewired(item):  # type: ignore[no-untyped-def]
        answer = ask_approval("Ship it?", channel="file:approvals", _id="approve")
        return {"approved": answer.approved, "ticket": prep(item).ticket}

    with pytest.raises(Exception, match="has changed since run run-changed"):
        reply("run-changed", choice="Approve")
    assert [w.status for w in list_waits(run_id="run-changed")] == ["open"]
    assert get_run("run-changed").status is RunStatus.WAITING


def test_watch_run_from_another_process_sees_every_event_in_order(in_shared: Shared) -> None:
    watcher = in_shared.start("lifecycle_flows.py", "watch", "run-watched")
    kind, outputs = in_shared.call("lifecycle_flows.py", "steps", "run-watched", "5")
    assert (kind, outputs) == ("RESULT", {"n": 5})
    out, err = watcher.communicate(timeout=15)
    seen = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("EVENT ")]
    assert out.splitlines()[-1].startswith("DONE"), out + err
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert seen == [e.to_json() for e in list_run_events("run-watched")]
    assert (seen[-1]["type"], seen[-1]["data"]["status"]) == ("run_status", "succeeded")
    kinds = [e["type"] for e in seen]
    assert kinds.count("log") == kinds.count("memory") == 5
    node_states = [(e["data"]["node_id"], e["data"]["status"]) for e in seen if e["type"] == "node"]
    assert node_states == [(f"s{i}", s) for i in range(1, 6) for s in ("running", "succeeded")]
