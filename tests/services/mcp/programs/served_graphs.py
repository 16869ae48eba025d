"""Graphs that ``aethergraph mcp serve --load-path`` exposes as MCP tools in the tests."""

from __future__ import annotations

from typing import Any

from aethergraph import graph_fn, graphify, tool
from aethergraph.tools import ask_approval


@graph_fn(name="greet", outputs=["greeting"])
async def greet(name: str, punctuation: str = "!") -> dict[str, Any]:
    """Greet someone by name."""
    return {"greeting": f"Hello, {name}{punctuation}"}


@tool(outputs=["status"], name="ship")
def ship(version: str, approved: bool) -> str:
    return f"shipped {version}" if approved else "not shipped"


@graphify(name="release", inputs=["version"], outputs=["status"])
def release(version):
    answer = ask_approval(prompt="Ship it?")
    return {"status": ship(version=version, approved=answer.approved).status}
