"""Waits in task graphs: a question pauses its node durably; a reply continues it, anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graphify, run_async, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import NodeTimeoutError, RunError
from aethergraph.runtime import RunStatus, get_run_async, reply_async
from aethergraph.storage.records import WaitStatus
from aethergraph.testing import memory_runtime, scripted_channel, start_run
from aethergraph.tools import ask_approval, ask_choice, ask_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.testing import ScriptedChannel

PROGRAMS = Path(__file__).parent / "programs"
DESK = "waits-desk"


@pytest.fixture
def desk() -> Iterator[ScriptedChannel]:
    """A channel with no scripted answers: questions stay open until ``reply()``."""
    with memory_runtime(), scripted_channel(key=DESK) as channel:
        yield channel


@tool(outputs=["greeting"], name="greet")
async def greet(*, context: NodeContext) -> dict[str, Any]:
    name = await context.channel(DESK).ask_text("Your name?")
    return {"greeting": f"hello {name}"}


@tool(outputs=["line"], name="report")
def report(approved: bool, choice: str, color: str) -> dict[str, Any]:
    return {"line": f"{'go' if approved else 'stop'}/{choice}/{color}"}


@graphify(name="waits_greeting")
def greeting_graph():
    return greet(_id="greet")


@graphify(name="waits_decisions")
def decisions_graph():
    approval = ask_approval("Deploy?", channel=DESK, _id="approval")
    color = ask_choice("Color?", ["red", "green", "blue"], channel=DESK, _id="color")
    return report(approval.approved, approval.choice, color.choice)


@graphify(name="waits_ordered_decisions")
def ordered_decisions():
    approval = ask_approval("Deploy?", channel=DESK, _id="approval")
    color = ask_choice(
        "Color?", ["red", "green", "blue"], channel=DESK, _id="color", _after=approval
    )
    return report(approval.approved, approval.choice, color.choice)


# -- in-process ------------------------------------------------------------------------------


@pytest.mark.usefixtures("desk")
async def test_ask_text_waits_until_reply_and_the_run_shows_waiting() -> None:
    handle = await start_run(greeting_graph)

    wait = await handle.next_wait()
    assert (wait.kind, wait.prompt, wait.node_id) == ("text", "Your name?", "greet")
    assert (await get_run_async(handle.run_id)).status is RunStatus.WAITING

    await handle.reply(text="Ada")

    assert await handle.result() == {"greeting": "hello Ada"}
    assert (await get_run_async(handle.run_id)).status is RunStatus.SUCCEEDED


async def test_channel_tools_as_nodes_take_choices_by_label_or_number(
    desk: ScriptedChannel,
) -> None:
    handle = await start_run(ordered_decisions)

    approval = await handle.next_wait()
    assert (approval.kind, approval.node_id, approval.options) == (
        "approval",
        "approval",
        ["Approve", "Reject"],
    )
    await handle.reply(choice="Reject")
    color = await handle.next_wait()
    assert (color.kind, color.node_id) == ("choice", "color")
    await handle.reply(text="2")

    assert await handle.result() == {"line": "stop/Reject/green"}
    assert desk.prompts == ["Deploy?", "Color?"]


async def both_waits_open(run_id: str) -> None:
    storage = current_runtime().storage()
    async with asyncio.timeout(10):
        while True:
            if len(await storage.list_waits(run_id=run_id, status=WaitStatus.OPEN)) == 2:
                return
            await asyncio.sleep(0.005)


@pytest.mark.usefixtures("desk")
async def test_two_replies_in_a_row_answer_two_concurrent_waits() -> None:
    handle = await start_run(decisions_graph)
    await both_waits_open(handle.run_id)

    # The first reply has not reached its node yet when the second is sent: the second must
    # answer the other wait, not be dropped on the one already answered.
    await reply_async(handle.run_id, text="1")
    await reply_async(handle.run_id, text="2")

    outputs = await handle.result(timeout_s=10)
    assert outputs in ({"line": "go/Approve/green"}, {"line": "stop/Reject/red"})


@pytest.mark.usefixtures("desk")
async def test_ask_approval_node_outputs_approved_and_choice() -> None:
    @graphify(name="waits_approval_only")
    def graph():
        return ask_approval("Ship?", ["Yes", "No", "Later"], channel=DESK)

    handle = await start_run(graph)
    wait = await handle.next_wait()
    assert wait.options == ["Yes", "No", "Later"]
    await handle.reply(choice="Yes")
    assert await handle.result() == {"approved": True, "choice": "Yes"}


@pytest.mark.usefixtures("desk")
async def test_invalid_choice_is_refused_listing_the_options_and_the_wait_stays_open() -> None:
    handle = await start_run(ordered_decisions)
    await handle.next_wait()

    with pytest.raises(ValueError, match=r"'Maybe' is not an option .*options: Approve, Reject"):
        await handle.reply(choice="Maybe")
    with pytest.raises(ValueError, match=r"'3' is not an option"):
        await handle.reply(text="3")

    assert (await get_run_async(handle.run_id)).status is RunStatus.WAITING
    await handle.reply(choice="Approve")
    await handle.next_wait()
    await handle.reply(choice="red")
    assert await handle.result() == {"line": "go/Approve/red"}


@pytest.mark.usefixtures("desk")
async def test_reply_to_a_run_without_an_open_wait_is_a_run_error() -> None:
    handle = await start_run(greeting_graph)
    await handle.next_wait()
    await handle.reply(text="Bo")
    await handle.result()

    with pytest.raises(RunError, match=r"has no open wait"):
        await reply_async(handle.run_id, text="again")


async def test_scripted_channel_answers_a_sequence_of_questions() -> None:
    @graphify(name="waits_scripted_chain")
    def graph():
        approval = ask_approval("Deploy?", channel=DESK)
        color = ask_choice("Color?", ["red", "green", "blue"], channel=DESK, _after=approval)
        return report(approval.approved, approval.choice, color.choice)

    with memory_runtime(), scripted_channel(["Approve", "3"], key=DESK) as channel:
        assert await run_async(graph) == {"line": "go/Approve/blue"}
    assert channel.prompts == ["Deploy?", "Color?"]


@pytest.mark.usefixtures("desk")
async def test_wait_timeout_with_default_continues_with_the_default() -> None:
    @tool(outputs=["name"], name="patient")
    async def patient(*, context: NodeContext) -> dict[str, Any]:
        return {
            "name": await context.channel(DESK).ask_text("Name?", timeout_s=0.05, default="nobody")
        }

    @graphify(name="waits_default")
    def graph():
        return patient()

    assert await run_async(graph) == {"name": "nobody"}


@pytest.mark.usefixtures("desk")
async def test_wait_timeout_without_default_fails_the_node() -> None:
    @graphify(name="waits_timeout")
    def graph():
        return ask_text("Name?", channel=DESK, timeout_s=0.05, _id="ask")

    with pytest.raises(NodeTimeoutError, match=r"'Name\?' .*node 'ask' got no reply within 0.05"):
        await run_async(graph, run_id="run-wait-timeout")
    assert (await get_run_async("run-wait-timeout")).status is RunStatus.FAILED


# -- across processes ------------------------------------------------------------------------


class Workspace:
    """A workspace folder and side-effect file shared by the programs a test runs."""

    def __init__(self, root: Path) -> None:
        self.side = root / "side_effects.txt"
        self.env = {
            **os.environ,
            "AETHERGRAPH_WORKSPACE": str(root / "ws"),
            "AG_TEST_SIDE_EFFECTS": str(self.side),
        }

    def program(self, *args: str) -> tuple[str, Any]:
        """Run approval_flow.py; its last ``RESULT``/``ERROR``/``WAITING`` line, decoded."""
        proc = subprocess.run(
            [sys.executable, str(PROGRAMS / "approval_flow.py"), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        for line in reversed(proc.stdout.splitlines()):
            kind, _, payload = line.partition(" ")
            if kind in ("RESULT", "ERROR", "WAITING"):
                return kind, json.loads(payload)
        raise AssertionError(f"no result from {args}: {proc.stdout}\n{proc.stderr}")

    def side_effects(self) -> list[str]:
        return self.side.read_text().split() if self.side.exists() else []


@pytest.fixture
def shared(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_a_wait_survives_its_process_and_a_reply_elsewhere_resumes_the_run(
    shared: Workspace,
) -> None:
    kind, started = shared.program("start", "run-restart")
    assert kind == "WAITING"
    assert started == {
        "run_id": "run-restart",
        "prompt": "Ship it?",
        "options": ["Approve", "Reject"],
    }
    prompts = (
        Path(shared.env["AETHERGRAPH_WORKSPACE"]) / "channels" / "approvals.jsonl"
    ).read_text()
    assert '"Ship it?"' in prompts

    assert shared.program("status", "run-restart") == (
        "RESULT",
        {"status": "waiting", "outputs": None, "error": None},
    )

    kind, record = shared.program("reply", "run-restart", "Approve")
    assert kind == "RESULT"
    assert record["status"] == "succeeded"
    assert record["outputs"] == {"status": "T-box approved (Approve)", "approved": True}
    assert shared.side_effects() == ["prep", "finish"]

    kind, error = shared.program("reply", "run-restart", "Approve")
    assert kind == "ERROR"
    assert error["type"] == "RunError"
    assert "has no open wait" in error["message"]


def test_a_reply_from_another_process_reaches_a_run_still_live_in_its_own(
    shared: Workspace,
) -> None:
    server = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "approval_flow.py"), "serve", "run-live"],
        env=shared.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("WAITING ")

        kind, record = shared.program("reply", "run-live", "Approve")
        # The owner is alive, so it continues the run; the replier only stored the answer.
        assert (kind, record["status"]) == ("RESULT", "waiting")

        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert out.strip().endswith('RESULT {"status": "T-box approved (Approve)", "approved": true}')
    assert shared.side_effects() == ["prep", "finish"]


def test_an_invalid_choice_from_another_process_lists_the_options(shared: Workspace) -> None:
    assert shared.program("start", "run-invalid")[0] == "WAITING"

    kind, error = shared.program("reply", "run-invalid", "Maybe")

    assert kind == "ERROR"
    assert error["type"] == "ValueError"
    assert "options: Approve, Reject" in error["message"]
    assert shared.program("status", "run-invalid")[1]["status"] == "waiting"
    assert shared.program("reply", "run-invalid", "2")[1]["outputs"] == {
        "status": "T-box rejected (Reject)",
        "approved": False,
    }


def test_rerunning_a_waiting_run_in_a_new_process_takes_a_reply_from_a_thread(
    shared: Workspace,
) -> None:
    assert shared.program("start", "run-rerun")[0] == "WAITING"

    kind, outputs = shared.program("resume", "run-rerun", "Reject")

    assert kind == "RESULT"
    assert outputs == {"status": "T-box rejected (Reject)", "approved": False}
    assert shared.side_effects() == ["prep", "finish"]


def test_a_console_wait_in_a_non_interactive_process_keeps_the_run_waiting(
    shared: Workspace,
) -> None:
    kind, started = shared.program("start", "run-console", "console")
    assert kind == "WAITING", started

    assert shared.program("status", "run-console")[1]["status"] == "waiting"
    kind, record = shared.program("text", "run-console", "1")
    assert record["outputs"] == {"status": "T-box approved (Approve)", "approved": True}


def test_a_reply_from_a_process_without_the_graph_keeps_the_wait_open(shared: Workspace) -> None:
    assert shared.program("start", "run-unknown-graph")[0] == "WAITING"
    script = "from aethergraph.runtime import reply; reply('run-unknown-graph', choice='Approve')"

    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=shared.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert proc.returncode != 0
    assert "GraphNotFoundError" in proc.stderr
    assert "restart_wait_flow" in proc.stderr
    # The answer was not consumed: once the module is imported, the same reply works.
    kind, record = shared.program("reply", "run-unknown-graph", "Approve")
    assert (kind, record["status"]) == ("RESULT", "succeeded")


def test_reply_with_an_explicit_workspace_resumes_the_run_there(
    shared: Workspace, tmp_path: Path
) -> None:
    assert shared.program("start", "run-elsewhere")[0] == "WAITING"
    workspace = shared.env["AETHERGRAPH_WORKSPACE"]
    script = (
        "import approval_flow\n"
        "from aethergraph.runtime import reply\n"
        f"print('RESULT', reply('run-elsewhere', choice='Approve', workspace={workspace!r}).status)"
    )

    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROGRAMS,
        env={**shared.env, "AETHERGRAPH_WORKSPACE": str(tmp_path / "default-ws")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "RESULT succeeded"
    assert shared.program("status", "run-elsewhere")[1]["outputs"] == {
        "status": "T-box approved (Approve)",
        "approved": True,
    }
    assert shared.side_effects() == ["prep", "finish"]
    assert not (tmp_path / "default-ws").exists()
