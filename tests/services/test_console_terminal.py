"""The console at a real terminal (a pseudo-terminal): Ctrl-C at a question, resuming, bad answers.

Issue 9, items 2 and 3: Ctrl-C while a run waits on a console question stops the process as
SIGTERM would (the run stays ``waiting``, its question open, one traceback); running it again
at a terminal asks the question again, and a bad answer repeats the "Answer with ..." line.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import NodeContext, graph_fn, run_async
from aethergraph.errors import RunError
from aethergraph.runtime import (
    RunStatus,
    cancel_run_async,
    get_run,
    get_run_async,
    list_waits,
    list_waits_async,
    reply_async,
)

if TYPE_CHECKING:
    from pathlib import Path

pty = pytest.importorskip("pty")

PROGRAM = textwrap.dedent(
    """
    import sys
    from aethergraph import NodeContext, graph_fn, run
    from aethergraph.runtime import configure

    configure(workspace=sys.argv[1])

    @graph_fn(name="terminal_approval")
    async def ship(*, context: NodeContext) -> dict:
        return await context.channel().ask_approval("Ship it?")

    print("RESULT", run(ship, run_id="run-tty"))
    """
)


def at_terminal(workspace: Path, script: list[tuple[str, str]]) -> tuple[str, int]:
    """Run PROGRAM on a pseudo-terminal; type each answer once its cue is on screen."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child process
        os.execv(sys.executable, [sys.executable, "-c", PROGRAM, str(workspace)])
    screen, todo = b"", list(script)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                screen += data
            if todo and todo[0][0].encode() in screen[screen.rfind(b"\n", 0, -1) :]:
                os.write(fd, todo.pop(0)[1].encode())
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return screen.decode("utf-8", "replace").replace("\r\n", "\n"), status


def test_ctrl_c_at_a_question_leaves_the_run_waiting_and_a_rerun_asks_again(
    workspace: Path,
) -> None:
    screen, status = at_terminal(workspace, [("label:", "\x03")])
    assert os.WIFSIGNALED(status), screen
    assert os.WTERMSIG(status) == signal.SIGINT
    assert screen.count("Traceback") == 1, screen
    assert screen.rstrip().endswith("KeyboardInterrupt"), screen
    assert get_run("run-tty").status is RunStatus.WAITING
    [wait] = list_waits(run_id="run-tty", status="open")
    assert wait.prompt == "Ship it?"

    hint = "Answer with a number or a label:"
    screen, status = at_terminal(workspace, [("label:", "perhaps\r"), ("label:", "2\r")])
    assert os.WIFEXITED(status), screen
    assert os.WEXITSTATUS(status) == 0, screen
    asked_again = screen.index("Ship it?\n  1. Approve\n  2. Reject\n" + hint)
    refused = screen.index("'perhaps' is not one of the options", asked_again)
    assert screen.index(hint, refused) > refused
    assert "RESULT {'approved': False, 'choice': 'Reject'}" in screen
    assert get_run("run-tty").status is RunStatus.SUCCEEDED


async def test_a_reply_to_a_cancelled_run_is_refused_and_its_wait_stays_unanswered(
    workspace: Path,
) -> None:
    @graph_fn(name="terminal_cancelled")
    async def asks(*, context: NodeContext) -> dict[str, Any]:
        return {"a": await context.channel("file:ops").ask_text("Which?")}

    running = asyncio.ensure_future(run_async(asks, run_id="run-cancelled-reply"))
    async with asyncio.timeout(10):
        while True:
            waits = await list_waits_async(run_id="run-cancelled-reply", status="open")
            if waits and (await get_run_async("run-cancelled-reply")).status is RunStatus.WAITING:
                break
            await asyncio.sleep(0.01)
        await cancel_run_async("run-cancelled-reply")
        with pytest.raises(RunError):
            await running
    with pytest.raises(RunError, match="has no open wait"):
        await reply_async("run-cancelled-reply", text="late")
    assert (await get_run_async("run-cancelled-reply")).status is RunStatus.CANCELLED
    assert not await list_waits_async(run_id="run-cancelled-reply", status="answered")
