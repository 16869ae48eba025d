"""Runs that tests drive from several processes sharing one workspace.

Usage: ``python lifecycle_flows.py MODE RUN_ID [ARG]``. Runs live in ``AETHERGRAPH_WORKSPACE``;
bodies append a line to the file named by ``AG_TEST_SIDE_EFFECTS`` each time they execute.

Modes:
    hold_fn RUN_ID [X]      run graph_fn ``held`` (input x, default 1): it records ``body``,
                            prints ``STARTED`` and waits until cancelled or interrupted
    hold_graph RUN_ID       the same as a one-node task graph
    cancel RUN_ID           ``cancel_run`` from this process; prints the status it returns
    watch RUN_ID            ``watch_run`` from this process; prints each event, then ``DONE``
    steps RUN_ID N          a task graph of N chained steps, each logging and recording memory
    status RUN_ID           print the run's status

Results are printed on lines starting ``STARTED``/``RESULT``/``ERROR``/``EVENT``/``DONE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from aethergraph import NodeContext, graph_fn, graphify, run, tool
from aethergraph.runtime import cancel_run, get_run, watch_run


def emit(kind: str, payload: Any) -> None:
    print(f"{kind} {json.dumps(payload)}", flush=True)


def side_effect(name: str) -> None:
    with open(os.environ["AG_TEST_SIDE_EFFECTS"], "a", encoding="utf-8") as fh:
        fh.write(name + "\n")


async def hold() -> None:
    side_effect("body")
    emit("STARTED", {"pid": os.getpid()})
    if not os.environ.get("AG_TEST_NO_HOLD"):
        await asyncio.Event().wait()


@graph_fn(name="held")
async def held(x: int = 1) -> dict[str, Any]:
    await hold()
    return {"x": x}


@tool(outputs=["done"], name="held_step")
async def held_step() -> dict[str, Any]:
    await hold()
    return {"done": True}


@graphify(name="held_graph")
def held_graph():  # type: ignore[no-untyped-def]
    return held_step(_id="hold")


@tool(outputs=["n"], name="counting_step")
async def counting_step(n: int, *, context: NodeContext) -> dict[str, Any]:
    context.logger().info("step %d", n)
    await context.memory().record("step", {"n": n})
    return {"n": n + 1}


def steps_graph(length: int) -> Any:
    @graphify(name=f"steps_{length}")
    def graph():  # type: ignore[no-untyped-def]
        value = counting_step(0, _id="s1")
        for i in range(2, length + 1):
            value = counting_step(value.n, _id=f"s{i}")
        return {"n": value.n}

    return graph


async def watch(run_id: str) -> None:
    async for event in watch_run(run_id):
        emit("EVENT", event.to_json())
    emit("DONE", {})


def main(argv: list[str]) -> int:
    mode, run_id, *rest = argv
    try:
        if mode == "hold_fn":
            emit("RESULT", run(held, {"x": int(rest[0]) if rest else 1}, run_id=run_id))
        elif mode == "hold_graph":
            emit("RESULT", run(held_graph, run_id=run_id))
        elif mode == "cancel":
            emit("RESULT", str(cancel_run(run_id)))
        elif mode == "watch":
            asyncio.run(watch(run_id))
        elif mode == "steps":
            emit("RESULT", run(steps_graph(int(rest[0])), run_id=run_id))
        elif mode == "status":
            emit("RESULT", str(get_run(run_id).status))
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except KeyboardInterrupt:
        emit("ERROR", {"type": "KeyboardInterrupt", "message": ""})
        return 130
    except Exception as exc:
        emit("ERROR", {"type": type(exc).__name__, "message": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
