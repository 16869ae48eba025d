"""``@graphify``: trace a builder function, once, into a frozen ``TaskGraph``.

Calling ``@tool``s in the builder declares nodes; their handles wire outputs to inputs. The graph
is registered in the catalog with the tool objects it was traced with (``scheduler`` runs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.catalog import register_graph
from aethergraph.core.engine.signature import declared_name, declared_names
from aethergraph.core.engine.tool import Tool, declared_tools
from aethergraph.core.graph.tracing import GraphBuilder, building
from aethergraph.errors import GraphDefinitionError

if TYPE_CHECKING:
    from aethergraph.core.graph.spec import TaskGraph

__all__ = ["graphify"]


def graphify(
    name: str | Callable[..., Any] | None = None,
    *,
    inputs: Sequence[str] | Mapping[str, Any] = (),
    outputs: Sequence[str] | None = None,
    version: str = "0.1.0",
) -> Any:
    """Trace a sync builder function into a ``TaskGraph``: ``@graphify(name=..., inputs=[...])``.

    ``inputs`` lists required inputs, or maps optional ones to defaults. Calling ``@tool``s in
    the builder declares nodes; their handles wire outputs to inputs.
    """
    if callable(name):
        return _trace(name, name.__name__, inputs, outputs, version)
    declared_name("graphify", name)
    if isinstance(inputs, Mapping):
        declared_names("@graphify", "inputs", list(inputs))
    else:
        declared_names("@graphify", "inputs", inputs)
    declared_names("@graphify", "outputs", outputs)

    def decorate(fn: Callable[..., Any]) -> TaskGraph:
        return _trace(fn, name or fn.__name__, inputs, outputs, version)

    return decorate


def _trace(
    fn: Callable[..., Any],
    name: str,
    inputs: Sequence[str] | Mapping[str, Any],
    outputs: Sequence[str] | None,
    version: str,
) -> TaskGraph:
    if asyncio.iscoroutinefunction(fn):
        raise GraphDefinitionError(
            f"@graphify {name!r} decorates an async function; the builder must be a plain "
            "function that only wires tools (put async work inside @tool functions)"
        )
    if isinstance(inputs, Mapping):
        required: tuple[str, ...] = ()
        defaults = dict(inputs)
    else:
        required, defaults = tuple(inputs), {}
    builder = GraphBuilder(name, version, required, defaults)
    tools: dict[str, Tool[..., Any]] = {}
    refs = builder.input_refs()
    with building(builder), declared_tools(tools):
        try:
            returned = fn(**refs)
        except TypeError as exc:
            exc.add_note(
                f"@graphify {name!r} calls its builder with its declared inputs "
                f"({', '.join(refs) or 'none'}) as keyword arguments; declare them with inputs=..."
            )
            raise
    graph = builder.finish(returned, outputs)
    register_graph(name, graph, tools)
    return graph
