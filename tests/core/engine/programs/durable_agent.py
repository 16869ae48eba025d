"""A graph_fn agent that a test kills at any step and resumes in a new process.

Usage: ``python durable_agent.py MODE RUN_ID``. Runs live in ``AETHERGRAPH_WORKSPACE``. Every step
appends its name to the file named by ``AG_TEST_SIDE_EFFECTS``; the step whose side effect is the
``AG_TEST_KILL_AT``-th of this process sends the process SIGKILL right after writing it.

Modes:
    run RUN_ID      run (or resume) ``durable_agent`` and print ``RESULT <outputs>``
    ask RUN_ID      run ``asks_first``: two steps, then an approval on file:desk (exits at the wait)
    reply RUN_ID    answer the approval with ``Approve`` and print the run's record
    sleep RUN_ID    run ``naps``: a step, a durable sleep of AG_TEST_SLEEP seconds, a step
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from aethergraph import NodeContext, Service, graph_fn, register_context_service, run, tool
from aethergraph.runtime import list_nodes, reply
from aethergraph.testing import start_run

_written = 0


def side_effect(name: str) -> None:
    global _written
    with open(os.environ["AG_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as fh:
        fh.write(name + "\n")
    _written += 1
    if os.environ.get("AG_TEST_KILL_AT") == str(_written):
        os.kill(os.getpid(), signal.SIGKILL)


@tool(outputs=["total"], name="add_step")
async def add_step(total: int, n: int) -> dict[str, Any]:
    side_effect(f"add{n:02d}")
    return {"total": total + n}


@tool(outputs=["square"], name="square_step")
async def square_step(n: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    side_effect(f"square{n}")
    return {"square": n * n}


class Ledger(Service):
    """A service whose ``commit`` is a journaled step."""

    @Service.step(idempotency_key=True)
    async def commit(self, total: int, *, idempotency_key: str) -> str:
        side_effect("ledger")
        return f"{idempotency_key}:{total}"


register_context_service("ledger", Ledger())


@graph_fn(name="durable_agent")
async def durable_agent(*, context: NodeContext) -> dict[str, Any]:
    total = 0
    for n in range(1, 21):
        total = (await add_step(total=total, n=n))["total"]
    receipt = await context.ledger().commit(total)
    squares = await asyncio.gather(*(square_step(n=n) for n in range(1, 6)))
    return {"total": total, "receipt": receipt, "squares": [s["square"] for s in squares]}


@graph_fn(name="asks_first")
async def asks_first(*, context: NodeContext) -> dict[str, Any]:
    first = await add_step(total=0, n=1)
    second = await add_step(total=first["total"], n=2)
    answer = await context.channel("file:desk").ask_approval("Ship it?")
    third = await add_step(total=second["total"], n=3)
    return {"total": third["total"], "approved": answer["approved"]}


@graph_fn(name="naps")
async def naps(*, context: NodeContext) -> dict[str, Any]:
    first = await add_step(total=0, n=1)
    await context.sleep(float(os.environ.get("AG_TEST_SLEEP", "0")))
    woke = await context.now()
    second = await add_step(total=first["total"], n=2)
    return {"total": second["total"], "woke": woke}


def emit(kind: str, payload: Any) -> None:
    print(f"{kind} {json.dumps(payload)}", flush=True)


async def ask(run_id: str) -> None:
    handle = await start_run(asks_first, run_id=run_id)
    await handle.next_wait()
    emit("WAITING", {"run_id": run_id})
    os._exit(0)  # as if the process had stopped while the run waits


def main(argv: list[str]) -> int:
    mode, run_id = argv
    try:
        if mode == "run":
            emit("RESULT", run(durable_agent, run_id=run_id))
        elif mode == "ask":
            asyncio.run(ask(run_id))
        elif mode == "reply":
            record = reply(run_id, choice="Approve")
            emit("RESULT", {"status": str(record.status), "outputs": record.outputs})
        elif mode == "sleep":
            emit("RESULT", run(naps, run_id=run_id))
        elif mode == "nodes":
            emit("RESULT", {n.node_id: str(n.status) for n in list_nodes(run_id)})
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except Exception as exc:
        emit("ERROR", {"type": type(exc).__name__, "message": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
