"""A small filesystem MCP server, written with the official ``mcp`` SDK's ``MCPServer``.

It serves one folder (the first argument, default: the current folder) over stdio: tools to
list, read and write files inside it, and a resource with the folder's file names. Paths that
lead outside the folder are refused.

Run it by itself: ``python examples/mcp_servers/filesystem.py /some/folder`` (it speaks MCP on
stdin/stdout), or let ``examples/mcp_filesystem.py`` start it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
server = MCPServer("filesystem", log_level="ERROR")


def _inside(path: str) -> Path:
    target = (ROOT / path).resolve()
    if not target.is_relative_to(ROOT):
        raise ToolError(f"{path!r} is outside the served folder")
    return target


@server.tool()
def list_files() -> list[str]:
    """Names of the files in the served folder, sorted."""
    return sorted(p.name for p in ROOT.iterdir() if p.is_file())


@server.tool()
def read_file(path: str) -> str:
    """The text of a file in the served folder."""
    target = _inside(path)
    if not target.is_file():
        raise ToolError(f"no file {path!r}")
    return target.read_text(encoding="utf-8")


@server.tool()
def write_file(path: str, text: str) -> int:
    """Write text to a file in the served folder; the number of characters written."""
    return _inside(path).write_text(text, encoding="utf-8")


@server.resource("fs://files")
def files() -> str:
    """The served folder's file names, one per line."""
    return "\n".join(list_files())


if __name__ == "__main__":
    server.run()
