"""An agent that uses an MCP server: the filesystem server that ships in examples/mcp_servers/.

``register_mcp_client`` names the server and how to start it (a stdio command); it is started on
first use, shared by every run, and stopped when the services close (the end of ``run()``).
``context.mcp("fs")`` calls it from a node, and ``mcp_tool("fs", "read_file")`` makes one of its
tools a node of a ``@graphify`` graph.

Run it: ``python examples/mcp_filesystem.py``
"""

import sys
import tempfile
from pathlib import Path

from aethergraph import graph_fn, graphify, run
from aethergraph.runtime import mcp_tool, register_mcp_client

SERVER = Path(__file__).parent / "mcp_servers" / "filesystem.py"
folder = tempfile.mkdtemp(prefix="ag-mcp-")
register_mcp_client("fs", command=[sys.executable, str(SERVER), folder])

read_file = mcp_tool("fs", "read_file", outputs=["result"])


@graph_fn(name="take_notes", outputs=["files", "note"])
async def take_notes(*, context):
    fs = context.mcp("fs")
    tools = [t["name"] for t in await fs.list_tools()]
    context.logger().info("fs tools: %s", tools)
    await fs.call("write_file", {"path": "note.txt", "text": "MCP servers are services too."})
    listed = await fs.call("list_files")
    note = await fs.call("read_file", {"path": "note.txt"})
    return {"files": listed["result"], "note": note["result"]}


@graphify(name="read_note", inputs={"path": "note.txt"}, outputs=["text"])
def read_note(path):
    return {"text": read_file(path=path).result}


def main() -> None:
    notes = run(take_notes)
    print(f"files: {notes['files']}, note: {notes['note']!r}")
    print(f"graph node read: {run(read_note, {'path': 'note.txt'})['text']!r}")


if __name__ == "__main__":
    main()
