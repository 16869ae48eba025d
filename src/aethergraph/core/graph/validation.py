"""The checks that make a task graph well formed, and the order its nodes run in.

Every check raises :class:`~aethergraph.errors.GraphDefinitionError` with a message that names the
graph and the node at fault and, where a name was mistyped, the close names that exist.
"""

from __future__ import annotations

import difflib
import heapq
from typing import TYPE_CHECKING, Any

from aethergraph.core.graph.refs import InputRef, NodeRef, refs_in
from aethergraph.errors import GraphDefinitionError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence

    from aethergraph.core.graph.spec import NodeSpec

__all__ = [
    "check_inputs",
    "check_name",
    "check_output_key",
    "check_references",
    "index_nodes",
    "listing",
    "order_nodes",
    "suggest",
]

_LISTED = 10


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Offer the known names closest to a mistyped one, as a sentence to append to a message."""
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ""


def listing(names: Iterable[str]) -> str:
    """Quote a few names for a message, so that a long graph does not flood it."""
    names = list(names)
    if not names:
        return "(none)"
    shown = ", ".join(map(repr, names[:_LISTED]))
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"


def check_name(value: object, what: str) -> str:
    """Accept a non-empty string as an id or a name, since ids key JSON objects and lookups."""
    if not isinstance(value, str) or not value:
        raise GraphDefinitionError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_inputs(graph: str, inputs: Sequence[str], defaults: Mapping[str, Any]) -> None:
    """Reject graph inputs that are unnamed, declared twice, or both required and defaulted."""
    seen: set[str] = set()
    for name in [*inputs, *defaults]:
        check_name(name, f"graph {graph!r}: an input name")
        if name in seen:
            raise GraphDefinitionError(
                f"graph {graph!r} declares input {name!r} twice; an input is either required "
                "or has a default"
            )
        seen.add(name)
    for name, value in defaults.items():
        if refs_in(value):
            raise GraphDefinitionError(
                f"graph {graph!r}: the default of input {name!r} refers to a node or an input; "
                "a default must be plain JSON"
            )


def index_nodes(
    graph: str, nodes: Sequence[NodeSpec]
) -> tuple[dict[str, NodeSpec], dict[str, NodeSpec]]:
    """Map node ids and aliases to nodes, rejecting any name that would be ambiguous."""
    by_id: dict[str, NodeSpec] = {}
    for node in nodes:
        if node.id in by_id:
            raise GraphDefinitionError(
                f"graph {graph!r} has two nodes with id {node.id!r} (tools {by_id[node.id].tool!r} "
                f"and {node.tool!r}); give each node its own id"
            )
        by_id[node.id] = node
    by_alias: dict[str, NodeSpec] = {}
    for node in nodes:
        if node.alias is None:
            continue
        owner = by_alias.get(node.alias) or by_id.get(node.alias)
        if owner is not None and owner is not node:
            raise GraphDefinitionError(
                f"graph {graph!r}: alias {node.alias!r} of node {node.id!r} is already used by "
                f"node {owner.id!r}; choose another alias"
            )
        by_alias[node.alias] = node
    return by_id, by_alias


def check_output_key(producer: NodeSpec, key: str, *, graph: str) -> None:
    """Reject a selector for an output that the producing tool does not declare."""
    if producer.outputs is None or key in producer.outputs:
        return
    raise GraphDefinitionError(
        f"graph {graph!r}: node {producer.id!r} (tool {producer.tool!r}) has no output {key!r}; "
        f"its declared outputs are {listing(producer.outputs)}.{suggest(key, producer.outputs)}"
    )


def check_references(
    graph: str,
    nodes: Sequence[NodeSpec],
    by_id: Mapping[str, NodeSpec],
    input_names: Collection[str],
    outputs: object,
) -> None:
    """Reject refs to unknown nodes, unknown output keys or undeclared graph inputs."""
    for node in nodes:
        where = f"graph {graph!r}: node {node.id!r}"
        for ref in refs_in(node.inputs):
            _check_ref(ref, where, graph, by_id, input_names)
        for dep in node.after:
            if dep not in by_id:
                raise GraphDefinitionError(
                    f"{where} runs after unknown node {dep!r}.{suggest(dep, by_id)}"
                )
    for ref in refs_in(outputs):
        _check_ref(ref, f"graph {graph!r}: the graph outputs", graph, by_id, input_names)


def _check_ref(
    ref: NodeRef | InputRef,
    where: str,
    graph: str,
    by_id: Mapping[str, NodeSpec],
    input_names: Collection[str],
) -> None:
    """Check one ref found in a node's inputs or in the graph outputs."""
    if isinstance(ref, NodeRef):
        producer = by_id.get(ref.node_id)
        if producer is None:
            raise GraphDefinitionError(
                f"{where} refers to unknown node {ref.node_id!r}.{suggest(ref.node_id, by_id)}"
            )
        if ref.key is not None:
            check_output_key(producer, ref.key, graph=graph)
        return
    if ref.name not in input_names:
        raise GraphDefinitionError(
            f"{where} uses graph input {ref.name!r}, which the graph does not declare; declared "
            f"inputs are {listing(input_names)}.{suggest(ref.name, input_names)}"
        )


def order_nodes(
    graph: str, nodes: Sequence[NodeSpec]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Order the nodes topologically and build the dependents adjacency, rejecting cycles.

    Kahn's algorithm with the ready nodes taken in declaration order: a traced graph, declared in
    a valid order, keeps it, and any other graph gets the one deterministic order closest to it.

    Returns:
        The node ids in run order, and for each node id the ids of the nodes that depend on it,
        in declaration order.
    """
    position = {node.id: index for index, node in enumerate(nodes)}
    dependents: dict[str, list[str]] = {node.id: [] for node in nodes}
    waiting: dict[str, int] = {}
    for node in nodes:
        waiting[node.id] = len(node.dependencies)
        for dep in node.dependencies:
            dependents[dep].append(node.id)
    ready = [index for index, node in enumerate(nodes) if not node.dependencies]
    order: list[str] = []
    while ready:
        node_id = nodes[heapq.heappop(ready)].id
        order.append(node_id)
        for dependent in dependents[node_id]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                heapq.heappush(ready, position[dependent])
    if len(order) < len(nodes):
        raise GraphDefinitionError(
            f"graph {graph!r} has a cycle: {_cycle(nodes, waiting)}; a node cannot depend, "
            "directly or through other nodes, on itself"
        )
    return tuple(order), {node_id: tuple(ids) for node_id, ids in dependents.items()}


def _cycle(nodes: Sequence[NodeSpec], waiting: Mapping[str, int]) -> str:
    """Find one cycle among the nodes Kahn's algorithm could not order, as ``a -> b -> a``.

    Every stuck node has a stuck dependency, so following them from any stuck node must come back
    to a node already on the path.
    """
    stuck = {node_id for node_id, count in waiting.items() if count}
    by_id = {node.id: node for node in nodes}
    current = next(node.id for node in nodes if node.id in stuck)
    step: dict[str, int] = {}
    path: list[str] = []
    while current not in step:
        step[current] = len(path)
        path.append(current)
        current = next(dep for dep in by_id[current].dependencies if dep in stuck)
    # The path runs from consumer to producer; a cycle reads better in the direction data flows.
    return " -> ".join(reversed([*path[step[current] :], current]))
