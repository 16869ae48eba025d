"""The graphs this process has defined, by name: what the server lists and what resumes look up."""

from __future__ import annotations

import difflib
from typing import Any

from aethergraph.errors import GraphNotFoundError

__all__ = ["find_graph", "list_graphs", "register_graph"]

_graphs: dict[str, Any] = {}


def register_graph(name: str, graph: Any) -> None:
    """Record a graph_fn or task graph under its name (a later definition replaces it)."""
    _graphs[name] = graph


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


def list_graphs() -> dict[str, Any]:
    """All defined graphs by name."""
    return dict(_graphs)
