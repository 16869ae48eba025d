"""Tracing a graphify builder function into a :class:`~aethergraph.core.graph.spec.TaskGraph`.

While a builder runs, :func:`building` makes a :class:`GraphBuilder` current; a ``@tool`` called
then does not run but calls :meth:`GraphBuilder.add_node` and hands back a :class:`NodeHandle`.
Selecting from a handle (``h.text`` or ``h["text"]``) gives the :class:`NodeRef` to pass on to
other tools; the builder's return value becomes the graph's outputs through
:meth:`GraphBuilder.finish`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aethergraph.core.graph.refs import InputRef, NodeRef, Placeholder
from aethergraph.core.graph.spec import NodeSpec, TaskGraph
from aethergraph.core.graph.validation import (
    check_inputs,
    check_name,
    check_output_key,
    listing,
    suggest,
)
from aethergraph.errors import GraphDefinitionError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["BUILDER", "GraphBuilder", "NodeHandle", "building", "current_builder"]

_current: ContextVar[GraphBuilder | None] = ContextVar("aethergraph_graph_builder", default=None)


BUILDER: ContextVar[GraphBuilder | None] = _current
"""The variable behind ``current_builder()``, for hot paths that read it directly."""


def current_builder() -> GraphBuilder | None:
    """The builder tracing a graphify function in this context; tools declare nodes while set."""
    return _current.get()


@contextmanager
def building(builder: GraphBuilder) -> Iterator[GraphBuilder]:
    """Make ``builder`` current for the duration of the block, restoring the previous one after."""
    token = _current.set(builder)
    try:
        yield builder
    finally:
        _current.reset(token)


class NodeHandle(Placeholder):
    """What a tool call returns inside a builder: a node whose outputs do not exist yet.

    Any public attribute selects an output, so ``node_id`` and ``alias`` are the only attributes
    of the handle itself; a tool output with one of those names is selected with ``h["alias"]``.
    Passed whole to another tool or returned from the builder, a handle stands for the node's
    outputs dict; as the value of one graph output, a handle of a one-output node stands for
    that output's value.
    """

    __slots__ = ("_builder", "_spec")

    def __init__(self, builder: GraphBuilder, spec: NodeSpec) -> None:
        self._builder = builder
        self._spec = spec

    @property
    def node_id(self) -> str:
        """The node's id in its graph."""
        return self._spec.id

    @property
    def alias(self) -> str | None:
        """The alias the node was given, if any."""
        return self._spec.alias

    def __getattr__(self, name: str) -> NodeRef:
        # Private and special names stay ordinary, so copy, pickle and hasattr probes behave.
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: str) -> NodeRef:
        if not isinstance(key, str):
            raise GraphDefinitionError(
                f"outputs of node {self._spec.id!r} are selected by name (a str), got {key!r}"
            )
        check_output_key(self._spec, key, graph=self._builder.name)
        return NodeRef(self._spec.id, key, origin=self._builder)

    def __repr__(self) -> str:
        return f"<node {self._spec.id!r} of graph {self._builder.name!r}>"


class GraphBuilder:
    """Collects the nodes a graphify builder declares, then turns them into a TaskGraph.

    Default node ids are ``f"{tool}_{n}"``, with ``n`` counting calls of each tool from 1 and
    skipping ids already taken, so ids are stable while the builder code is unchanged.
    """

    def __init__(
        self,
        name: str,
        version: str = "0.1.0",
        inputs: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = check_name(name, "a graph name")
        self._version = version
        self._inputs = tuple(inputs)
        self._defaults = dict(defaults or {})
        check_inputs(self._name, self._inputs, self._defaults)
        self._nodes: dict[str, NodeSpec] = {}
        self._taken: set[str] = set()
        self._counters: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The name of the graph being built."""
        return self._name

    def input(self, name: str) -> InputRef:
        """The placeholder for graph input ``name``.

        Raises:
            GraphDefinitionError: the graph declares no such input.
        """
        known = [*self._inputs, *self._defaults]
        if name not in known:
            raise GraphDefinitionError(
                f"graph {self._name!r} has no input {name!r} (an input of another graph cannot be "
                f"used here); its inputs are {listing(known)}.{suggest(name, known)}"
            )
        return InputRef(name)

    def input_refs(self) -> dict[str, InputRef]:
        """Placeholders for every graph input, required ones first, to call the builder with."""
        return {name: InputRef(name) for name in [*self._inputs, *self._defaults]}

    def add_node(
        self,
        *,
        tool: str,
        version: str,
        inputs: Mapping[str, Any],
        outputs: Sequence[str] | None = None,
        node_id: str | None = None,
        alias: str | None = None,
        after: NodeHandle | NodeRef | Sequence[NodeHandle | NodeRef] | None = None,
    ) -> NodeHandle:
        """Declare a node for one tool call and return its handle.

        Args:
            tool: The tool's registered name.
            version: The tool's version.
            inputs: The call's arguments by parameter name; handles and refs may appear at any
                depth, and a whole handle stands for that node's outputs dict.
            outputs: The tool's declared output keys, or None when it declares none.
            node_id: An explicit id; by default one is derived from the tool name.
            alias: A second name to look the node up by.
            after: Nodes that must finish first although no value flows from them.

        Raises:
            GraphDefinitionError: an id or alias is taken, a value is not JSON, or a handle, ref
                or input belongs to another graph; a note names the node.
        """
        new_id = self._new_id(tool, node_id)
        try:
            self._check_free(alias, "alias")
            spec = NodeSpec(
                id=new_id,
                tool=tool,
                tool_version=version,
                inputs={name: self._wire(value) for name, value in inputs.items()},
                outputs=None if outputs is None else tuple(outputs),
                alias=alias,
                after=self._after_ids(after),
            )
        except GraphDefinitionError as exc:
            exc.add_note(f"while adding node {new_id!r} (tool {tool!r}) to graph {self._name!r}")
            raise
        self._nodes[spec.id] = spec
        self._taken.add(spec.id)
        if alias is not None:
            self._taken.add(alias)
        return NodeHandle(self, spec)

    def finish(self, returned: Any, declared_outputs: Sequence[str] | None = None) -> TaskGraph:
        """Build the graph, taking its outputs from what the builder function returned.

        Args:
            returned: A dict of outputs (values may hold handles, refs and literals), a single
                handle (the graph's outputs are that node's outputs), or None for no outputs.
                Any other value is accepted only when exactly one output is declared, and
                becomes that output.
            declared_outputs: The output names ``@graphify`` declares, if it declares them.

        Raises:
            GraphDefinitionError: the return value cannot be outputs, or a declared output is
                missing from it.
        """
        outputs = self._graph_outputs(returned, declared_outputs)
        if declared_outputs is not None:
            self._check_declared(outputs, declared_outputs)
        return TaskGraph(
            name=self._name,
            version=self._version,
            nodes=tuple(self._nodes.values()),
            inputs=self._inputs,
            defaults=self._defaults,
            outputs=outputs,
        )

    def _new_id(self, tool: str, node_id: str | None) -> str:
        """Take an explicit id if free, or derive the next free ``{tool}_{n}``."""
        if node_id is not None:
            self._check_free(node_id, "node id")
            return node_id
        count = self._counters.get(tool, 0) + 1
        while f"{tool}_{count}" in self._taken:
            count += 1
        self._counters[tool] = count
        return f"{tool}_{count}"

    def _check_free(self, name: str | None, what: str) -> None:
        """Reject an id or alias that would make a node lookup ambiguous."""
        if name is not None and name in self._taken:
            raise GraphDefinitionError(
                f"graph {self._name!r}: {what} {check_name(name, what)!r} is already the id or "
                "alias of another node; choose a different one"
            )

    def _own(self, handle: NodeHandle) -> NodeSpec:
        """Return a handle's node, refusing handles traced by another builder."""
        if handle._builder is not self:
            raise GraphDefinitionError(
                f"node {handle.node_id!r} belongs to graph {handle._builder.name!r}, not to "
                f"graph {self._name!r}: a handle cannot cross graphs. Pass the value in as a "
                "graph input, or declare the node inside this graph."
            )
        return handle._spec

    def _producer(self, ref: NodeRef) -> NodeSpec:
        """Return the node a bare ref points at, which must already be part of this graph."""
        if isinstance(ref.origin, GraphBuilder) and ref.origin is not self:
            raise GraphDefinitionError(
                f"{ref!r} is an output of node {ref.node_id!r} of graph {ref.origin.name!r}, not "
                f"of graph {self._name!r}: a handle cannot cross graphs. Pass the value in as a "
                "graph input, or declare the node inside this graph."
            )
        producer = self._nodes.get(ref.node_id)
        if producer is None:
            raise GraphDefinitionError(
                f"{ref!r} refers to node {ref.node_id!r}, which graph {self._name!r} does not "
                "have (a ref from another graph cannot be used here)."
                f"{suggest(ref.node_id, self._nodes)}"
            )
        if ref.key is not None:
            check_output_key(producer, ref.key, graph=self._name)
        return producer

    def _wire(self, value: Any) -> Any:
        """Replace handles by refs at any depth, checking every ref belongs to this graph."""
        if isinstance(value, NodeHandle):
            return NodeRef(self._own(value).id)
        if isinstance(value, NodeRef):
            self._producer(value)
        elif isinstance(value, InputRef):
            self.input(value.name)
        elif isinstance(value, Mapping):
            return {key: self._wire(item) for key, item in value.items()}
        elif isinstance(value, list | tuple):
            return [self._wire(item) for item in value]
        return value

    def _after_ids(
        self, after: NodeHandle | NodeRef | Sequence[NodeHandle | NodeRef] | None
    ) -> tuple[str, ...]:
        """Turn ``_after=`` (a handle, or a list of handles) into node ids."""
        if after is None:
            return ()
        items = after if isinstance(after, list | tuple) else [after]
        ids: list[str] = []
        for item in items:
            if isinstance(item, NodeHandle):
                ids.append(self._own(item).id)
            elif isinstance(item, NodeRef):
                ids.append(self._producer(item).id)
            else:
                raise GraphDefinitionError(
                    f"_after= takes a node handle or a list of them, got {type(item).__name__}"
                )
        return tuple(ids)

    def _graph_outputs(
        self, returned: Any, declared: Sequence[str] | None
    ) -> Mapping[str, Any] | NodeRef:
        """Interpret the builder's return value as graph outputs."""
        if returned is None:
            return {}
        if isinstance(returned, NodeHandle):
            return NodeRef(self._own(returned).id)
        if isinstance(returned, NodeRef) and returned.key is None:
            return NodeRef(self._producer(returned).id)
        if isinstance(returned, Mapping):
            return {key: self._output(value) for key, value in returned.items()}
        if declared is not None and len(declared) == 1:
            return {declared[0]: self._output(returned)}
        raise GraphDefinitionError(
            f"graph {self._name!r}: the builder returned {returned!r}; return a dict of outputs "
            "such as {'result': node.result}, a single node handle, or None (or declare exactly "
            "one output for a single value)"
        )

    def _output(self, value: Any) -> Any:
        """One graph output: a whole handle of a one-output node stands for that output's value."""
        if isinstance(value, NodeHandle):
            spec = self._own(value)
            if spec.outputs is not None and len(spec.outputs) == 1:
                return NodeRef(spec.id, spec.outputs[0])
        return self._wire(value)

    def _check_declared(
        self, outputs: Mapping[str, Any] | NodeRef, declared: Sequence[str]
    ) -> None:
        """Raise naming every declared output the builder did not return."""
        if isinstance(outputs, NodeRef):
            available = self._nodes[outputs.node_id].outputs
            if available is None:
                return  # The tool declares no outputs; the run checks what it returns.
            source = f"node {outputs.node_id!r} declares only {listing(available)}"
        else:
            available = tuple(outputs)
            source = f"the builder returned {listing(available)}"
        missing = [name for name in declared if name not in available]
        if missing:
            raise GraphDefinitionError(
                f"graph {self._name!r} declares outputs {listing(declared)} but does not return "
                f"{listing(missing)}; {source}.{suggest(missing[0], available)}"
            )
