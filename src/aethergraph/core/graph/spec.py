"""The data model of an explicit task graph: its nodes, the graph itself and their JSON form.

Specs are frozen and validated on construction, whether built by tracing a graphify function or
loaded from JSON, so the engine never meets a graph with a dangling ref or a cycle. Values are kept
in their canonical JSON shape (tuples become lists), so that a graph equals its JSON round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aethergraph.core.graph.refs import (
    InputRef,
    NodeRef,
    decode_value,
    encode_value,
    refs_in,
    resolve_value,
)
from aethergraph.core.graph.validation import (
    check_inputs,
    check_name,
    check_references,
    index_nodes,
    listing,
    order_nodes,
    suggest,
)
from aethergraph.errors import GraphDefinitionError, RunError

__all__ = ["NodeSpec", "TaskGraph"]

_FORMAT = 1
_DEFAULT_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of a task graph: the tool it runs, the values it runs on, what it waits for.

    Attributes:
        id: Unique within the graph; keys checkpoints, so it must be stable across runs.
        tool: The registered name of the tool the node runs.
        tool_version: The tool version the graph was built against.
        inputs: Argument name to value; values may hold refs at any depth.
        outputs: The output keys the tool declares, or None when it declares none.
        alias: A second, user-chosen name to look the node up by.
        after: Ids of nodes that must finish first although no value flows from them.
        dependencies: Sorted ids of every node this one waits for (refs and ``after``).
    """

    id: str
    tool: str
    tool_version: str = _DEFAULT_VERSION
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None
    alias: str | None = None
    after: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"node {check_name(self.id, 'a node id')!r}"
        check_name(self.tool, f"{where}: the tool name")
        check_name(self.tool_version, f"{where}: the tool version")
        if self.alias is not None:
            check_name(self.alias, f"{where}: the alias")
        inputs = {
            check_name(name, f"{where}: an input name"): _canonical(
                value, f"{where}, input {name!r}"
            )
            for name, value in self.inputs.items()
        }
        after = tuple(
            dict.fromkeys(check_name(dep, f"{where}: an _after id") for dep in self.after)
        )
        needed = {ref.node_id for ref in refs_in(inputs) if isinstance(ref, NodeRef)}
        object.__setattr__(self, "inputs", MappingProxyType(inputs))
        object.__setattr__(self, "outputs", _output_names(self.outputs, where))
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "dependencies", tuple(sorted(needed.union(after))))

    def __hash__(self) -> int:
        return hash((self.id, self.tool, self.tool_version))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled, and specs may travel to worker processes.
        fields = (self.id, self.tool, self.tool_version, dict(self.inputs), self.outputs)
        return (NodeSpec, (*fields, self.alias, self.after))

    def resolve_inputs(
        self, node_outputs: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Compute the arguments to call the tool with, once the dependencies have completed.

        Raises:
            RunError: a ref cannot be resolved; a note names this node and the input.
        """
        arguments: dict[str, Any] = {}
        for name, value in self.inputs.items():
            try:
                arguments[name] = resolve_value(value, node_outputs, inputs)
            except RunError as exc:
                exc.add_note(f"while resolving input {name!r} of node {self.id!r}")
                raise
        return arguments

    def to_json(self) -> dict[str, Any]:
        """Encode the node as a JSON object."""
        return {
            "id": self.id,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "inputs": {name: encode_value(value) for name, value in self.inputs.items()},
            "outputs": None if self.outputs is None else list(self.outputs),
            "alias": self.alias,
            "after": list(self.after),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeSpec:
        """Decode a node written by :meth:`to_json`, validating it."""
        outputs = data.get("outputs")
        inputs = data.get("inputs", {})
        return cls(
            id=_required(data, "id", "a node"),
            tool=_required(data, "tool", "a node"),
            tool_version=data.get("tool_version", _DEFAULT_VERSION),
            inputs={name: decode_value(value) for name, value in inputs.items()},
            outputs=None if outputs is None else tuple(outputs),
            alias=data.get("alias"),
            after=tuple(data.get("after", ())),
        )


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """A validated, immutable task graph, with the indexes its scheduler needs.

    Attributes:
        name: The graph's name, as registered by ``@graphify``.
        version: The graph's version.
        nodes: The nodes in declaration order.
        inputs: Names of the required graph inputs.
        defaults: Optional graph inputs and their JSON default values.
        outputs: Output name to value (values may hold refs), or a ``NodeRef`` with key None when
            the graph's outputs are that node's whole outputs dict.
    """

    name: str
    version: str = _DEFAULT_VERSION
    nodes: tuple[NodeSpec, ...] = ()
    inputs: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] | NodeRef = field(default_factory=dict)
    _by_id: dict[str, NodeSpec] = field(init=False, repr=False, compare=False)
    _by_alias: dict[str, NodeSpec] = field(init=False, repr=False, compare=False)
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _dependents: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        graph = check_name(self.name, "a graph name")
        check_name(self.version, f"graph {graph!r}: the version")
        nodes = tuple(self.nodes)
        for node in nodes:
            if not isinstance(node, NodeSpec):
                raise GraphDefinitionError(f"graph {graph!r}: {node!r} is not a NodeSpec")
        inputs = tuple(self.inputs)
        defaults = {
            name: _canonical(value, f"graph {graph!r}, default of input {name!r}")
            for name, value in self.defaults.items()
        }
        check_inputs(graph, inputs, defaults)
        outputs = _graph_outputs(graph, self.outputs)
        by_id, by_alias = index_nodes(graph, nodes)
        check_references(graph, nodes, by_id, {*inputs, *defaults}, outputs)
        order, dependents = order_nodes(graph, nodes)
        computed: list[tuple[str, object]] = [
            ("nodes", nodes),
            ("inputs", inputs),
            ("defaults", MappingProxyType(defaults)),
            ("outputs", outputs),
            ("_by_id", by_id),
            ("_by_alias", by_alias),
            ("_order", order),
            ("_dependents", dependents),
        ]
        for name, value in computed:
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.nodes))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled, and graphs may travel to worker processes.
        outputs = self.outputs if isinstance(self.outputs, NodeRef) else dict(self.outputs)
        fields = (self.name, self.version, self.nodes, self.inputs, dict(self.defaults), outputs)
        return (TaskGraph, fields)

    def __call__(self, *args: object, **kwargs: object) -> TaskGraph:
        """The graph itself: the published API's ``my_graph()`` builds the graph it names.

        Raises:
            GraphDefinitionError: arguments were given; inputs go to ``run(graph, {...})``.
        """
        if args or kwargs:
            raise GraphDefinitionError(
                f"graph {self.name!r} was already built by @graphify; calling it takes no "
                "arguments. Pass inputs when running it: run(graph, {'name': value, ...})"
            )
        return self

    def build(self) -> TaskGraph:
        """The graph itself, as the published API's ``my_graph.build()`` returns it."""
        return self

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every ``(dependency, dependent)`` pair, by dependent in declaration order."""
        return tuple((dep, node.id) for node in self.nodes for dep in node.dependencies)

    def topological_order(self) -> list[str]:
        """Node ids in an order that runs every node after its dependencies.

        Among nodes that are ready together, declaration order wins, so the order is stable.
        It is computed once, at construction.
        """
        return list(self._order)

    def node(self, id_or_alias: str) -> NodeSpec:
        """Look a node up by its id or its alias.

        Raises:
            GraphDefinitionError: no node has that id or alias; close names are suggested.
        """
        found = self._by_id.get(id_or_alias) or self._by_alias.get(id_or_alias)
        if found is None:
            names = [*self._by_id, *self._by_alias]
            raise GraphDefinitionError(
                f"graph {self.name!r} has no node {id_or_alias!r}.{suggest(id_or_alias, names)} "
                f"Its nodes are {listing(self._by_id)}."
            )
        return found

    def dependencies(self, node_id: str) -> tuple[str, ...]:
        """Ids of the nodes that must finish before ``node_id`` (an id or alias) runs."""
        return self.node(node_id).dependencies

    def dependents(self, node_id: str) -> tuple[str, ...]:
        """Ids of the nodes that wait for ``node_id`` (an id or alias), in declaration order."""
        return self._dependents[self.node(node_id).id]

    def indegrees(self) -> dict[str, int]:
        """A fresh count of distinct dependencies per node id, for a Kahn-style scheduler."""
        return {node.id: len(node.dependencies) for node in self.nodes}

    def resolve_outputs(
        self, node_outputs: Mapping[str, Mapping[str, Any]], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Compute the graph's outputs dict from its completed nodes' outputs.

        Raises:
            RunError: an output refers to a node or key that has no value.
        """
        if isinstance(self.outputs, NodeRef):
            return dict(resolve_value(self.outputs, node_outputs, inputs))
        return {
            name: resolve_value(value, node_outputs, inputs) for name, value in self.outputs.items()
        }

    def to_json(self) -> dict[str, Any]:
        """Encode the graph as a JSON object that :meth:`from_json` restores exactly."""
        return {
            "format": _FORMAT,
            "name": self.name,
            "version": self.version,
            "inputs": list(self.inputs),
            "defaults": {name: encode_value(value) for name, value in self.defaults.items()},
            "nodes": [node.to_json() for node in self.nodes],
            "outputs": encode_value(self.outputs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskGraph:
        """Decode and validate a graph written by :meth:`to_json`.

        Raises:
            GraphDefinitionError: the JSON is malformed or describes an invalid graph.
        """
        if data.get("format", _FORMAT) != _FORMAT:
            raise GraphDefinitionError(
                f"graph JSON has format {data['format']!r}; this version of AetherGraph reads "
                f"format {_FORMAT}"
            )
        return cls(
            name=_required(data, "name", "a graph"),
            version=data.get("version", _DEFAULT_VERSION),
            nodes=tuple(NodeSpec.from_json(node) for node in data.get("nodes", ())),
            inputs=tuple(data.get("inputs", ())),
            defaults={
                name: decode_value(value) for name, value in data.get("defaults", {}).items()
            },
            outputs=decode_value(data.get("outputs", {})),
        )

    def to_text(self) -> str:
        """Describe the graph for a human: its inputs, one line per node in run order, outputs."""
        inputs = [*self.inputs, *(f"{k}={json.dumps(v)}" for k, v in self.defaults.items())]
        lines = [f"graph {self.name} {self.version}", f"inputs: {', '.join(inputs) or '(none)'}"]
        for node_id in self._order:
            node = self._by_id[node_id]
            alias = f" [{node.alias}]" if node.alias is not None else ""
            arguments = ", ".join(f"{k}={_render(v)}" for k, v in node.inputs.items())
            needs = f"  <- {', '.join(node.dependencies)}" if node.dependencies else ""
            lines.append(f"  {node.id}{alias}: {node.tool}({arguments}){needs}")
        if isinstance(self.outputs, NodeRef):
            lines.append(f"outputs: all outputs of {self.outputs.node_id}")
        else:
            shown = ", ".join(f"{k}={_render(v)}" for k, v in self.outputs.items())
            lines.append(f"outputs: {shown or '(none)'}")
        return "\n".join(lines)

    def to_dot(self) -> str:
        """Draw the graph in Graphviz DOT; ordering-only (``after``) edges are dashed."""
        lines = [f"digraph {_dot_quote(self.name)} {{", "  rankdir=LR;"]
        for node in self.nodes:
            label = _dot_quote(f"{node.id}\n{node.tool}")
            lines.append(f"  {_dot_quote(node.id)} [label={label}];")
        for node in self.nodes:
            fed_by = {ref.node_id for ref in refs_in(node.inputs) if isinstance(ref, NodeRef)}
            for dep in node.dependencies:
                style = "" if dep in fed_by else " [style=dashed]"
                lines.append(f"  {_dot_quote(dep)} -> {_dot_quote(node.id)}{style};")
        lines.append("}")
        return "\n".join(lines)


def _required(data: Mapping[str, Any], key: str, what: str) -> Any:
    """Read a field that graph JSON cannot do without."""
    if key not in data:
        raise GraphDefinitionError(f"malformed graph JSON: {what} has no {key!r} field")
    return data[key]


def _canonical(value: Any, where: str) -> Any:
    """Bring a value to the shape its JSON round trip has, refusing what JSON cannot hold."""
    try:
        return decode_value(encode_value(value))
    except GraphDefinitionError as exc:
        raise GraphDefinitionError(f"{where}: {exc}") from exc


def _output_names(outputs: tuple[str, ...] | None, where: str) -> tuple[str, ...] | None:
    """Validate a tool's declared output keys."""
    if outputs is None:
        return None
    names = tuple(check_name(name, f"{where}: an output name") for name in outputs)
    if len(set(names)) != len(names):
        raise GraphDefinitionError(f"{where} declares an output twice: {listing(names)}")
    return names


def _graph_outputs(graph: str, outputs: object) -> Mapping[str, Any] | NodeRef:
    """Validate and freeze a graph's outputs: a dict of values, or one node's whole outputs."""
    if isinstance(outputs, NodeRef):
        if outputs.key is not None:
            raise GraphDefinitionError(
                f"graph {graph!r}: the outputs are the single output {outputs!r}; name it, as "
                f"in {{{outputs.key!r}: ...}}, or use the node's whole outputs (key None)"
            )
        return outputs
    if not isinstance(outputs, Mapping):
        raise GraphDefinitionError(
            f"graph {graph!r}: the outputs must be a dict or a NodeRef, "
            f"got {type(outputs).__name__}"
        )
    return MappingProxyType(
        {
            check_name(name, f"graph {graph!r}: an output name"): _canonical(
                value, f"graph {graph!r}, output {name!r}"
            )
            for name, value in outputs.items()
        }
    )


def _render(value: Any) -> str:
    """Write a value compactly for :meth:`TaskGraph.to_text`: refs as ``node.key``, ``$input``."""
    if isinstance(value, NodeRef):
        return value.node_id if value.key is None else f"{value.node_id}.{value.key}"
    if isinstance(value, InputRef):
        return f"${value.name}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_render, value)) + "]"
    return json.dumps(value)


def _dot_quote(text: str) -> str:
    """Quote an id or a label for DOT, where any string is safe once quoted and escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
