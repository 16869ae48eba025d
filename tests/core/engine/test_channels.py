"""SPEC section 4: channels — console over real pipes, file channel, replies from code, timeouts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graph_fn, run, run_async
from aethergraph.errors import NodeTimeoutError
from aethergraph.runtime import (
    RunStatus,
    configure,
    get_run_async,
    reply_async,
    set_channel_alias,
    set_default_channel,
)
from aethergraph.testing import ManualClock, scripted_channel, start_run
from aethergraph.tools import ask_approval, ask_text, send_text
from tests.core.engine.conftest import block_forever

if TYPE_CHECKING:
    from pathlib import Path

CONSOLE_SCRIPT = """
import json
import sys

from aethergraph import graph_fn, run
from aethergraph.tools import ask_approval


@graph_fn
async def approval(*, context):
    return await ask_approval("Deploy to production?")


@graph_fn
async def question(*, context):
    await context.channel().send_text("hello from the node")
    return {"answer": await context.channel().ask_text("What is your name?")}


graph = approval if sys.argv[1] == "approval" else question
try:
    out = run(graph)
except Exception as exc:
    print("ERROR " + type(exc).__name__ + ": " + str(exc), flush=True)
    sys.exit(3)
print("RESULT " + json.dumps(out), flush=True)
"""


def run_console(
    tmp_path: Path, mode: str, stdin: str | None
) -> tuple[subprocess.CompletedProcess[str], float]:
    script = tmp_path / "console_graph.py"
    script.write_text(CONSOLE_SCRIPT)
    env = {**os.environ, "AETHERGRAPH_WORKSPACE": str(tmp_path / "console_ws")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script), mode],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    return done, time.monotonic() - started


def result_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result; stdout={done.stdout!r} stderr={done.stderr!r}"
    return json.loads(lines[-1][len("RESULT ") :])  # type: ignore[no-any-return]


# -- console ------------------------------------------------------------------------------------


def test_console_approval_answered_by_number_picks_that_option(tmp_path: Path) -> None:
    done, _ = run_console(tmp_path, "approval", "2\n")
    assert done.returncode == 0, done.stderr
    assert result_of(done) == {"approved": False, "choice": "Reject"}
    assert "Deploy to production?" in done.stdout
    assert "1. Approve" in done.stdout
    assert "2. Reject" in done.stdout


def test_console_approval_answered_by_label_approves(tmp_path: Path) -> None:
    done, _ = run_console(tmp_path, "approval", "Approve\n")
    assert done.returncode == 0, done.stderr
    assert result_of(done) == {"approved": True, "choice": "Approve"}


def test_console_approval_reasks_after_an_answer_that_is_not_an_option(tmp_path: Path) -> None:
    done, _ = run_console(tmp_path, "approval", "maybe\nreject\n")
    assert done.returncode == 0, done.stderr
    assert result_of(done) == {"approved": False, "choice": "Reject"}
    assert "not one of the options" in done.stdout


def test_console_ask_text_reads_the_answer_from_piped_stdin(tmp_path: Path) -> None:
    done, _ = run_console(tmp_path, "question", "Ada Lovelace\n")
    assert done.returncode == 0, done.stderr
    assert result_of(done) == {"answer": "Ada Lovelace"}
    assert "hello from the node" in done.stdout
    assert "What is your name?" in done.stdout


def test_console_ask_text_at_end_of_input_leaves_the_run_waiting_naming_standard_input(
    tmp_path: Path,
) -> None:
    done, elapsed = run_console(tmp_path, "question", None)
    assert done.returncode == 3, done.stderr
    assert "ERROR RunWaitingError" in done.stdout
    assert "standard input" in done.stdout
    assert elapsed < 15


def test_console_send_text_and_progress_print_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    @graph_fn
    async def reports(*, context: NodeContext) -> None:
        channel = context.channel()
        await channel.send_text("starting work")
        async with channel.progress(title="epochs", total=3) as progress:
            await progress.advance()
        await send_text("sent by the tool")

    run(reports)
    out = capsys.readouterr().out
    assert "starting work" in out
    assert "epochs: 0/3" in out
    assert "epochs: 1/3" in out
    assert "epochs: 3/3" in out
    assert "sent by the tool" in out


# -- scripted channel through the built-in tools -------------------------------------------------


def test_builtin_channel_tools_awaited_in_a_graph_fn_use_the_channel() -> None:
    @graph_fn
    async def deploys() -> dict[str, Any]:
        name = await ask_text("Who deploys?")
        decision = await ask_approval("Deploy?")
        return {"name": name["text"], **decision}

    with scripted_channel(["Grace", "Approve"]) as channel:
        out = run(deploys)
    assert out == {"name": "Grace", "approved": True, "choice": "Approve"}
    assert channel.prompts == ["Who deploys?", "Deploy?"]


# -- file channel -------------------------------------------------------------------------------


def test_file_channel_appends_json_lines_under_the_workspace(workspace: Path) -> None:
    @graph_fn
    async def writes_file(*, context: NodeContext) -> dict[str, Any]:
        await context.channel("file:ops").send_text("first")
        await context.channel("file:ops").send_text("second")
        return {"run_id": context.run_id}

    out = run(writes_file)
    path = workspace / "channels" / "ops.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["text"] for line in lines] == ["first", "second"]
    assert all(line["run_id"] == out["run_id"] and line["kind"] == "text" for line in lines)


def test_file_channel_follows_the_workspace_of_the_run(workspace: Path, tmp_path: Path) -> None:
    @graph_fn
    async def writes(note: str, *, context: NodeContext) -> None:
        await context.channel("file:audit").send_text(note)

    run(writes, {"note": "in the first"})
    other = tmp_path / "other_workspace"
    configure(workspace=other)
    run(writes, {"note": "in the second"})
    first = (workspace / "channels" / "audit.jsonl").read_text().splitlines()
    second = (other / "channels" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in first] == ["in the first"]
    assert [json.loads(line)["text"] for line in second] == ["in the second"]


def test_default_channel_and_aliases_are_configurable(workspace: Path) -> None:
    @graph_fn
    async def talks(*, context: NodeContext) -> None:
        await context.channel().send_text("to the default")
        await context.channel("team_ops").send_text("to the alias")

    set_channel_alias("team_ops", "file:team")
    set_default_channel("file:default")
    try:
        run(talks)
    finally:
        set_default_channel("console")
    default = (workspace / "channels" / "default.jsonl").read_text()
    team = (workspace / "channels" / "team.jsonl").read_text()
    assert json.loads(default)["text"] == "to the default"
    assert json.loads(team)["text"] == "to the alias"


def test_an_unknown_channel_key_lists_the_known_ones() -> None:
    @graph_fn
    async def unknown_channel(*, context: NodeContext) -> None:
        context.channel("slack_nowhere")

    with pytest.raises(ValueError, match=r"no channel 'slack_nowhere'.*console"):
        run(unknown_channel)


def test_file_channel_names_cannot_leave_the_channels_folder() -> None:
    @graph_fn
    async def escapes(*, context: NodeContext) -> None:
        await context.channel("file:../../etc/passwd").send_text("x")

    with pytest.raises(ValueError, match="channels folder"):
        run(escapes)


# -- replies from code --------------------------------------------------------------------------


@graph_fn
async def asks_on_file(*, context: NodeContext) -> dict[str, Any]:
    answer = await context.channel("file:ops").ask_text("Which dataset?")
    return {"answer": answer}


async def wait_until_waiting(run_id: str) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                if (await get_run_async(run_id)).status is RunStatus.WAITING:
                    return
            except KeyError:
                pass
            await asyncio.sleep(0.01)


async def test_a_wait_on_a_non_console_channel_is_answered_by_reply_from_another_task(
    workspace: Path,
) -> None:
    running = asyncio.ensure_future(run_async(asks_on_file, run_id="run-reply-1"))
    await wait_until_waiting("run-reply-1")
    await reply_async("run-reply-1", text="cifar-10")
    async with asyncio.timeout(10):
        assert await running == {"answer": "cifar-10"}
    assert (await get_run_async("run-reply-1")).status is RunStatus.SUCCEEDED
    prompt = json.loads((workspace / "channels" / "ops.jsonl").read_text().splitlines()[0])
    assert prompt["kind"] == "prompt"
    assert prompt["text"] == "Which dataset?"


async def test_an_approval_on_a_non_console_channel_accepts_a_choice_reply() -> None:
    @graph_fn
    async def approves_on_file(*, context: NodeContext) -> dict[str, Any]:
        return await context.channel("file:ops").ask_approval("Ship it?")

    running = asyncio.ensure_future(run_async(approves_on_file, run_id="run-reply-2"))
    await wait_until_waiting("run-reply-2")
    await reply_async("run-reply-2", choice="Reject")
    async with asyncio.timeout(10):
        assert await running == {"approved": False, "choice": "Reject"}


async def test_a_reply_that_is_not_an_option_is_refused_and_the_wait_stays_open() -> None:
    @graph_fn
    async def approves_on_file(*, context: NodeContext) -> dict[str, Any]:
        return await context.channel("file:ops").ask_approval("Ship it?")

    running = asyncio.ensure_future(run_async(approves_on_file, run_id="run-reply-3"))
    await wait_until_waiting("run-reply-3")
    with pytest.raises(ValueError, match="not an option"):
        await reply_async("run-reply-3", text="perhaps")
    await reply_async("run-reply-3", text="1")
    async with asyncio.timeout(10):
        assert await running == {"approved": True, "choice": "Approve"}


# -- timeouts -----------------------------------------------------------------------------------


async def test_a_wait_past_its_timeout_fails_the_node_with_node_timeout_error(
    clock: ManualClock,
) -> None:
    @graph_fn
    async def impatient(*, context: NodeContext) -> None:
        await context.channel("file:ops").ask_text("Anyone?", timeout_s=0.1)

    handle = await start_run(impatient, run_id="run-timeout-1")
    await handle.next_wait()
    clock.advance(0.1)
    with pytest.raises(NodeTimeoutError, match="Anyone"):
        await handle.result()
    record = await get_run_async("run-timeout-1")
    assert record.status is RunStatus.FAILED


async def test_a_wait_past_its_timeout_returns_the_default_when_given(clock: ManualClock) -> None:
    @graph_fn
    async def has_default(*, context: NodeContext) -> dict[str, Any]:
        text = await context.channel("file:ops").ask_text("Anyone?", timeout_s=0.1, default="n/a")
        return {"text": text}

    handle = await start_run(has_default)
    await handle.next_wait()
    clock.advance(0.1)
    assert await handle.result() == {"text": "n/a"}


async def test_a_run_past_its_timeout_s_option_fails_with_node_timeout_error(
    clock: ManualClock,
) -> None:
    entered = asyncio.Event()

    @graph_fn(name="past_its_timeout")
    async def slow() -> None:
        await block_forever(entered)

    running = asyncio.ensure_future(run_async(slow, timeout_s=0.1))
    await entered.wait()
    clock.advance(0.1)
    with pytest.raises(NodeTimeoutError, match=r"timeout_s=0\.1"):
        await running
