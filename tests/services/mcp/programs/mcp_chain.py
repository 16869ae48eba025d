"""A @graphify graph whose first node is an MCP tool; a test kills it after that node and resumes.

Usage: ``python mcp_chain.py RUN_ID``. Runs live in ``AETHERGRAPH_WORKSPACE``; the MCP server
appends each call of its ``record`` tool to ``AG_TEST_MCP_LOG``; with ``AG_TEST_KILL=1`` the
second node SIGKILLs this process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aethergraph import graphify, run, tool
from aethergraph.runtime import mcp_tool, register_mcp_client

SERVER = Path(__file__).parents[1] / "server.py"

register_mcp_client(
    "recorder",
    command=[sys.executable, str(SERVER)],
    env={"AG_TEST_MCP_LOG": os.environ["AG_TEST_MCP_LOG"]},
)
record = mcp_tool("recorder", "record", outputs=["result"])


@tool(outputs=["done"], name="maybe_crash")
def maybe_crash(seen: str) -> dict[str, Any]:
    if os.environ.get("AG_TEST_KILL") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    return {"done": f"after {seen}"}


@graphify(name="mcp_chain", inputs={"label": "a"}, outputs=["result", "done"])
def mcp_chain(label):
    first = record(label=label, _id="mcp")
    second = maybe_crash(first.result, _id="crash")
    return {"result": first.result, "done": second.done}


if __name__ == "__main__":
    outputs = run(mcp_chain, {"label": "first-call"}, run_id=sys.argv[1])
    print("RESULT " + json.dumps(outputs), flush=True)
