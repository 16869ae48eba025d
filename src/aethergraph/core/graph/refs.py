"""References to values that exist only when a graph runs, and the JSON form of node inputs.

A task graph is data. A node's inputs are JSON values in which a :class:`NodeRef` stands for
another node's output and an :class:`InputRef` for a graph input, at any depth. In JSON a ref is
written ``{"$node": id, "key": k}`` or ``{"$input": name}``; a literal dict with a key starting
with ``$`` is wrapped as ``{"$lit": {...}}`` so that it can never be mistaken for a ref.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from aethergraph.errors import GraphDefinitionError, RunError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "InputRef",
    "NodeRef",
    "Placeholder",
    "decode_value",
    "encode_value",
    "refs_in",
    "resolve_value",
]

_NODE = "$node"
_KEY = "key"
_INPUT = "$input"
_LITERAL = "$lit"


def _refuse(action: str) -> Callable[..., NoReturn]:
    """Build a special method that explains why builder code cannot use a placeholder as a value."""

    def refuse(self: object, *args: object) -> NoReturn:
        raise GraphDefinitionError(
            f"{action} on {self!r} is not possible: builder code only wires nodes together, and "
            "this value exists only when the graph runs. Make the decision inside a @tool, or "
            "write a @graph_fn for dynamic control flow."
        )

    return refuse


class Placeholder:
    """Base of the stand-ins a graphify builder sees instead of run-time values.

    A builder runs once, before any node has run, so a truth test, arithmetic, ordering, iteration
    or string formatting on a stand-in would silently use the stand-in itself; each raises a
    :class:`~aethergraph.errors.GraphDefinitionError` instead. Equality stays structural because
    specs are compared and hashed.
    """

    __slots__ = ()

    __bool__ = _refuse("A truth test (if / and / or / not)")
    __iter__ = _refuse("Iteration")
    __format__ = _refuse("String formatting (an f-string or format())")
    __index__ = __int__ = __float__ = _refuse("A numeric conversion")
    __lt__ = __le__ = __gt__ = __ge__ = _refuse("An ordering comparison")
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse("Arithmetic")
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _refuse("Arithmetic")
    __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = _refuse("Arithmetic")
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = _refuse("A bitwise operation")
    __invert__ = _refuse("A bitwise operation")


@dataclass(frozen=True, slots=True)
class NodeRef(Placeholder):
    """One output of a node (``key``), or with ``key`` None the node's whole outputs dict.

    ``origin`` is the builder that handed the ref out (None for a ref made by hand or read from
    JSON). It is not part of the value: it only lets a builder refuse another graph's ref whose
    node id happens to exist in its own graph too.
    """

    node_id: str
    key: str | None = None
    origin: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InputRef(Placeholder):
    """A graph input, by name."""

    name: str


def encode_value(value: Any) -> Any:
    """Turn a value that may hold refs into JSON; tuples become lists.

    Raises:
        GraphDefinitionError: the value holds something JSON cannot represent.
    """
    if isinstance(value, NodeRef):
        return {_NODE: value.node_id, _KEY: value.key}
    if isinstance(value, InputRef):
        return {_INPUT: value.name}
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [encode_value(item) for item in value]
    if isinstance(value, Mapping):
        encoded = {_json_key(key): encode_value(item) for key, item in value.items()}
        if any(key.startswith("$") for key in encoded):
            return {_LITERAL: encoded}
        return encoded
    raise GraphDefinitionError(
        f"{type(value).__name__} value {value!r} cannot be stored in a graph: pass JSON data "
        "(dict, list, str, int, float, bool, None) or a node output"
    )


def _json_key(key: object) -> str:
    """Return a dict key unchanged, refusing the non-string keys JSON would silently convert."""
    if not isinstance(key, str):
        raise GraphDefinitionError(
            f"dict key {key!r} is a {type(key).__name__}; keys in graph values must be strings"
        )
    return key


def decode_value(data: Any) -> Any:
    """Invert :func:`encode_value`: rebuild refs and unwrap escaped literal dicts.

    Raises:
        GraphDefinitionError: a ``$``-key dict that is neither a ref nor an escaped literal.
    """
    if isinstance(data, list | tuple):
        return [decode_value(item) for item in data]
    if not isinstance(data, Mapping):
        return data
    if _NODE in data:
        _expect_keys(data, {_NODE, _KEY})
        return NodeRef(_expect_str(data, _NODE), _optional_str(data.get(_KEY), data))
    if _INPUT in data:
        _expect_keys(data, {_INPUT})
        return InputRef(_expect_str(data, _INPUT))
    if _LITERAL in data:
        _expect_keys(data, {_LITERAL})
        literal = data[_LITERAL]
        if not isinstance(literal, Mapping):
            raise GraphDefinitionError(f"malformed graph value {data!r}: '$lit' must hold a dict")
        return {key: decode_value(item) for key, item in literal.items()}
    _expect_keys(data, {key for key in data if not str(key).startswith("$")})
    return {key: decode_value(item) for key, item in data.items()}


def _expect_keys(data: Mapping[str, Any], allowed: set[str]) -> None:
    """Reject a JSON object with keys its ``$`` marker does not allow."""
    extra = sorted(set(data) - allowed)
    if extra:
        raise GraphDefinitionError(
            f"malformed graph value {dict(data)!r}: unexpected keys {extra}; a literal dict with "
            "keys starting with '$' must be wrapped as {'$lit': {...}}"
        )


def _expect_str(data: Mapping[str, Any], key: str) -> str:
    """Read a string field of an encoded ref."""
    value = data[key]
    if not isinstance(value, str):
        raise GraphDefinitionError(f"malformed graph value {dict(data)!r}: {key!r} must be a str")
    return value


def _optional_str(value: Any, data: Mapping[str, Any]) -> str | None:
    """Read the optional output key of an encoded node ref."""
    if value is not None and not isinstance(value, str):
        raise GraphDefinitionError(f"malformed graph value {dict(data)!r}: 'key' must be a str")
    return value


def refs_in(value: Any) -> list[NodeRef | InputRef]:
    """List the distinct refs held anywhere in ``value``, in the order they first occur."""
    found: dict[NodeRef | InputRef, None] = {}
    _collect(value, found)
    return list(found)


def _collect(value: Any, found: dict[NodeRef | InputRef, None]) -> None:
    """Walk ``value`` depth first, recording each ref."""
    if isinstance(value, NodeRef | InputRef):
        found[value] = None
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


def resolve_value(
    value: Any,
    node_outputs: Mapping[str, Mapping[str, Any]],
    inputs: Mapping[str, Any],
) -> Any:
    """Replace every ref in ``value`` by the run-time value it stands for.

    Containers are rebuilt, so a tool that mutates its arguments cannot change the graph.

    Args:
        value: A node input or graph output, possibly holding refs at any depth.
        node_outputs: The outputs dict of every completed node, by node id.
        inputs: The graph inputs of the run, defaults applied.

    Raises:
        RunError: a ref names a node without outputs, a key the node did not return, or an input
            the run was not given.
    """
    if isinstance(value, NodeRef):
        return _node_output(value, node_outputs)
    if isinstance(value, InputRef):
        if value.name not in inputs:
            raise RunError(
                f"graph input {value.name!r} has no value; the run was given: "
                f"{', '.join(map(repr, inputs)) or '(nothing)'}"
            )
        return inputs[value.name]
    if isinstance(value, Mapping):
        return {key: resolve_value(item, node_outputs, inputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_value(item, node_outputs, inputs) for item in value]
    if isinstance(value, tuple):
        return tuple(resolve_value(item, node_outputs, inputs) for item in value)
    return value


def _node_output(ref: NodeRef, node_outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Look up what ``ref`` points at among the completed nodes' outputs."""
    if ref.node_id not in node_outputs:
        raise RunError(f"node {ref.node_id!r} has no outputs yet; it must complete before use")
    outputs = node_outputs[ref.node_id]
    if ref.key is None:
        return dict(outputs)
    if ref.key not in outputs:
        returned = ", ".join(map(repr, outputs)) or "(nothing)"
        raise RunError(
            f"node {ref.node_id!r} returned no output {ref.key!r}; it returned: {returned}"
        )
    return outputs[ref.key]
