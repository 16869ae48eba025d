"""Explicit task graphs as pure data: node and graph specs, refs, validation and tracing.

Nothing here performs I/O or runs anything; the engine schedules what these specs describe.
"""

from aethergraph.core.graph.refs import (
    InputRef,
    NodeRef,
    Placeholder,
    decode_value,
    encode_value,
    refs_in,
    resolve_value,
)
from aethergraph.core.graph.spec import NodeSpec, TaskGraph
from aethergraph.core.graph.tracing import GraphBuilder, NodeHandle, building, current_builder

__all__ = [
    "GraphBuilder",
    "InputRef",
    "NodeHandle",
    "NodeRef",
    "NodeSpec",
    "Placeholder",
    "TaskGraph",
    "building",
    "current_builder",
    "decode_value",
    "encode_value",
    "refs_in",
    "resolve_value",
]
