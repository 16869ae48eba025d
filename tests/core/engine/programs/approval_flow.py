"""A @graphify flow ``prep -> ask_approval -> finish`` that waits across process restarts.

Usage: ``python approval_flow.py MODE RUN_ID [ARG]``. Runs live in ``AETHERGRAPH_WORKSPACE``;
``prep`` and ``finish`` append their names to the file named by ``AG_TEST_SIDE_EFFECTS``.

Modes:
    start RUN_ID [CHANNEL]  start the run, print its id once it waits, then exit at once
                            (``os._exit``: no cleanup, as if the process had stopped)
    reply RUN_ID CHOICE     answer the wait with ``aethergraph.runtime.reply``; print the record
                            it returns
    text RUN_ID TEXT        answer with ``reply(run_id, text=TEXT)``; print the record
    status RUN_ID           print the run's status
    serve RUN_ID            start the run, print its id once it waits, then wait for the reply
                            (from another process) and print the outputs
    resume RUN_ID CHOICE    ``run(flow, run_id=RUN_ID)`` again; a thread replies once it waits

Answers and failures are printed on lines starting ``RESULT``/``ERROR`` (the console channel
prints its prompts on the same standard output).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

from aethergraph import graphify, run, tool
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import RunWaitingError
from aethergraph.runtime import RunRecord, get_run, get_run_async, reply
from aethergraph.testing import start_run
from aethergraph.tools import ask_approval


def side_effect(name: str) -> None:
    with open(os.environ["AG_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as fh:
        fh.write(name + "\n")


@tool(outputs=["ticket"], name="prep")
def prep(item: str) -> dict[str, Any]:
    side_effect("prep")
    return {"ticket": f"T-{item}"}


@tool(outputs=["status"], name="finish")
def finish(ticket: str, approved: bool, choice: str) -> dict[str, Any]:
    side_effect("finish")
    verdict = "approved" if approved else "rejected"
    return {"status": f"{ticket} {verdict} ({choice})"}


def build(name: str, channel: str) -> Any:
    @graphify(name=name, inputs=["item"])
    def flow(item):
        ticket = prep(item)
        answer = ask_approval("Ship it?", channel=channel, _id="approve", _after=ticket)
        done = finish(ticket.ticket, answer.approved, answer.choice)
        return {"status": done.status, "approved": answer.approved}

    return flow


FLOWS = {
    "file:approvals": build("restart_wait_flow", "file:approvals"),
    "console": build("restart_wait_console_flow", "console"),
}


def emit(kind: str, payload: Any) -> None:
    print(f"{kind} {json.dumps(payload)}", flush=True)


def record_json(record: RunRecord) -> dict[str, Any]:
    return {"status": str(record.status), "outputs": record.outputs, "error": record.error}


async def start(run_id: str, channel: str) -> None:
    handle = await start_run(FLOWS[channel], {"item": "box"}, run_id=run_id)
    wait = await handle.next_wait()
    if channel == "console":
        # Standard input is at its end and no server runs: nobody here can answer, so the run
        # is left waiting in the workspace (not failed) and run_async says so.
        try:
            await handle.result(timeout_s=5)
        except RunWaitingError:
            pass
        else:
            raise AssertionError("the run ended although nobody answered")
        assert (await get_run_async(run_id)).status == "waiting"
    emit("WAITING", {"run_id": handle.run_id, "prompt": wait.prompt, "options": wait.options})
    os._exit(0)


async def serve(run_id: str) -> None:
    handle = await start_run(FLOWS["file:approvals"], {"item": "box"}, run_id=run_id)
    await handle.next_wait()
    emit("WAITING", {"run_id": handle.run_id})
    emit("RESULT", await handle.result(timeout_s=20))


def resume(run_id: str, choice: str) -> None:
    def answer_once_waiting() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = next((s for s in current_runtime().all_live() if s.run_id == run_id), None)
            if state is not None and state.waits.pending() is not None:
                reply(run_id, choice=choice)
                return
            time.sleep(0.01)

    replier = threading.Thread(target=answer_once_waiting)
    replier.start()
    try:
        emit("RESULT", run(FLOWS["file:approvals"], {"item": "box"}, run_id=run_id))
    finally:
        replier.join(timeout=10)


def main(argv: list[str]) -> int:
    mode, run_id, *rest = argv
    try:
        if mode == "start":
            asyncio.run(start(run_id, rest[0] if rest else "file:approvals"))
        elif mode == "serve":
            asyncio.run(serve(run_id))
        elif mode == "reply":
            emit("RESULT", record_json(reply(run_id, choice=rest[0])))
        elif mode == "text":
            emit("RESULT", record_json(reply(run_id, text=rest[0])))
        elif mode == "status":
            emit("RESULT", record_json(get_run(run_id)))
        elif mode == "resume":
            resume(run_id, rest[0])
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except Exception as exc:
        emit("ERROR", {"type": type(exc).__name__, "message": str(exc)})
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
