"""The graphs and tools this process has defined: what the server lists and what runs look up.

Graphs are found by name. Tools are found by (name, version), so a task graph can be executed from
its JSON spec in a process that imported the modules defining its tools. A graph traced here keeps
the very tool objects it was traced with.
"""

from __future__ import annotations

import difflib
from typing import Any

from aethergraph.errors import ConfigurationError, GraphNotFoundError

__all__ = [
    "find_graph",
    "find_tool",
    "graph_tools",
    "list_graphs",
    "list_tools",
    "register_graph",
    "register_tool",
]

_graphs: dict[str, Any] = {}
_traced_tools: dict[str, tuple[Any, dict[str, Any]]] = {}
_tools: dict[tuple[str, str], Any] = {}


def register_graph(name: str, graph: Any, tools: dict[str, Any] | None = None) -> None:
    """Record a graph_fn or task graph under its name (a later definition replaces it).

    ``tools`` are the tool objects a traced task graph's nodes name, by tool name.
    """
    _graphs[name] = graph
    if tools is not None:
        _traced_tools[name] = (graph, tools)


def register_tool(tool: Any) -> None:
    """Record a tool under (name, version) (a later definition replaces it)."""
    _tools[tool.name, tool.version] = tool


def find_graph(name: str, *, run_id: str | None = None) -> Any:
    """The graph named ``name``.

    Raises:
        GraphNotFoundError: naming the graph (and run) and the graphs that are defined.
    """
    graph = _graphs.get(name)
    if graph is None:
        close = difflib.get_close_matches(name, list(_graphs), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        where = f"run {run_id} needs graph" if run_id else "graph"
        raise GraphNotFoundError(
            f"{where} {name!r}, which no imported module defines (defined: "
            f"{', '.join(sorted(_graphs)) or 'none'}).{hint} Import the module that defines it "
            "before resuming or replying."
        )
    return graph


def find_tool(name: str, version: str, *, graph: str) -> Any:
    """The tool ``name`` at ``version``.

    Raises:
        ConfigurationError: naming the graph, the tool and the versions that are defined.
    """
    tool = _tools.get((name, version))
    if tool is None:
        versions = sorted(v for n, v in _tools if n == name)
        known = (
            f"defined versions: {', '.join(versions)}" if versions else "no such tool is defined"
        )
        raise ConfigurationError(
            f"graph {graph!r} needs tool {name!r} version {version} ({known}); import the "
            "module that defines it before running the graph"
        )
    return tool


def graph_tools(graph: Any) -> dict[str, Any] | None:
    """The tools ``graph`` was traced with here, or ``None`` for a graph built elsewhere."""
    found = _traced_tools.get(graph.name)
    if found is None or found[0] is not graph:
        return None
    return found[1]


def list_graphs() -> dict[str, Any]:
    """All defined graphs by name."""
    return dict(_graphs)


def list_tools() -> dict[tuple[str, str], Any]:
    """All defined tools by (name, version)."""
    return dict(_tools)
