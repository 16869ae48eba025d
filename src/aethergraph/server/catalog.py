"""Graphs as the API, the page and the CLI describe them: kind, inputs, outputs, spec.

Kept free of web imports so that the CLI can describe graphs without loading FastAPI.
"""

from __future__ import annotations

import json
from typing import Any

from aethergraph.core.engine.catalog import find_graph, list_graphs
from aethergraph.core.engine.graph_fn import GraphFunction
from aethergraph.core.engine.tool import Tool
from aethergraph.core.graph.refs import NodeRef
from aethergraph.core.graph.spec import TaskGraph

__all__ = ["describe_graph", "describe_graphs", "graph_kind"]


def graph_kind(graph: Any) -> str:
    """``"graph_fn"``, ``"graphify"`` or ``"tool"``."""
    if isinstance(graph, TaskGraph):
        return "graphify"
    if isinstance(graph, Tool):
        return "tool"
    return "graph_fn"


def _json_or_repr(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _inputs(graph: Any) -> list[dict[str, Any]]:
    if isinstance(graph, TaskGraph):
        required = [{"name": name, "required": True} for name in graph.inputs]
        optional = [
            {"name": name, "required": False, "default": _json_or_repr(value)}
            for name, value in graph.defaults.items()
        ]
        return required + optional
    sig = graph.sig
    described: list[dict[str, Any]] = []
    for name in sig.params:
        item: dict[str, Any] = {"name": name, "required": name in sig.required}
        if name in sig.defaults:
            item["default"] = _json_or_repr(sig.defaults[name])
        described.append(item)
    return described


def _outputs(graph: Any) -> list[str] | None:
    if isinstance(graph, TaskGraph):
        if isinstance(graph.outputs, NodeRef):
            node = graph.node(graph.outputs.node_id)
            return list(node.outputs) if node.outputs is not None else None
        return list(graph.outputs)
    outputs = graph.sig.outputs
    return list(outputs) if outputs is not None else None


def describe_graph(name: str, *, with_spec: bool = False) -> dict[str, Any]:
    """One graph as JSON; ``with_spec`` adds a task graph's nodes and edges.

    Raises:
        GraphNotFoundError: when no imported module defines the graph.
    """
    graph = find_graph(name)
    described: dict[str, Any] = {
        "graph_id": name,
        "kind": graph_kind(graph),
        "version": getattr(graph, "version", None),
        "inputs": _inputs(graph),
        "outputs": _outputs(graph),
        "description": getattr(graph, "description", None)
        if isinstance(graph, GraphFunction)
        else None,
    }
    if with_spec and isinstance(graph, TaskGraph):
        spec = graph.to_json()
        described["spec"] = {
            "nodes": [
                {"id": node["id"], "tool": node["tool"], "inputs": node.get("inputs", {})}
                for node in spec["nodes"]
            ],
            "edges": [{"source": src, "target": dst} for src, dst in graph.edges],
        }
    return described


def describe_graphs() -> list[dict[str, Any]]:
    """Every defined graph, sorted by name."""
    return [describe_graph(name) for name in sorted(list_graphs())]
