"""A @graphify flow that asks twice: ``ask_text`` for a name, then ``ask_approval``.

Usage: ``python two_questions.py MODE RUN_ID [ANSWER]`` with runs in ``AETHERGRAPH_WORKSPACE``.

Modes:
    start RUN_ID          start the run, print ``WAITING`` once it waits, exit at once (os._exit)
    text RUN_ID ANSWER    ``reply(run_id, text=ANSWER)``; print the returned record
    choice RUN_ID ANSWER  ``reply(run_id, choice=ANSWER)``; print the returned record
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from aethergraph import graphify, tool
from aethergraph.runtime import reply
from aethergraph.testing import start_run
from aethergraph.tools import ask_approval, ask_text


@tool(outputs=["message"], name="greet")
def greet(name: str, approved: bool) -> dict[str, Any]:
    return {"message": f"{name} {'approved' if approved else 'rejected'}"}


@graphify(name="two_questions")
def flow():  # type: ignore[no-untyped-def]
    name = ask_text("Your name?", channel="file:two")
    answer = ask_approval("Go ahead?", channel="file:two", _after=name)
    return {"message": greet(name.text, answer.approved).message}


async def start(run_id: str) -> None:
    handle = await start_run(flow, run_id=run_id)
    await handle.next_wait()
    print("WAITING", flush=True)
    os._exit(0)


def main() -> None:
    mode, run_id = sys.argv[1], sys.argv[2]
    if mode == "start":
        asyncio.run(start(run_id))
    key = "text" if mode == "text" else "choice"
    record = reply(run_id, **{key: sys.argv[3]})
    print("RESULT " + json.dumps({"status": str(record.status), "outputs": record.outputs}))


if __name__ == "__main__":
    main()
