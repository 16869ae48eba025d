"""What the engine needs to know about a user function, worked out once at decoration time.

``FunctionSignature`` answers: which parameter receives the NodeContext, which inputs are required,
how call arguments map onto input names, and how a return value becomes an outputs dict (the output
contract).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from aethergraph.core.engine.input_types import InputTypes
from aethergraph.core.engine.payload import json_inputs, json_outputs
from aethergraph.core.engine.sync_body import sync_body
from aethergraph.errors import GraphDefinitionError, InputValidationError, OutputContractError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "DeclaredFunction",
    "FunctionSignature",
    "P",
    "R",
    "declared_name",
    "declared_names",
    "declared_seconds",
]

_CONTEXT_TYPE_NAMES = ("NodeContext",)


def _is_context_param(param: inspect.Parameter) -> bool:
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        return False
    if param.name == "context":
        return True
    ann = param.annotation
    if isinstance(ann, str):
        return ann.rsplit(".", 1)[-1] in _CONTEXT_TYPE_NAMES
    return getattr(ann, "__name__", None) in _CONTEXT_TYPE_NAMES


class FunctionSignature:
    """The inputs, context parameter and output declaration of one decorated function."""

    __slots__ = (
        "_declared_keys",
        "call_inputs",
        "context_param",
        "defaults",
        "kind",
        "name",
        "outputs",
        "params",
        "positional",
        "required",
        "types",
        "var_keyword",
        "where",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        kind: str,
        name: str,
        inputs: Sequence[str] | None,
        outputs: Sequence[str] | None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.where = f"{kind} {name!r}"
        sig = inspect.signature(fn)
        self.context_param: str | None = None
        params: list[str] = []
        positional: list[str] = []
        required: list[str] = []
        defaults: dict[str, Any] = {}
        self.var_keyword = False
        for p in sig.parameters.values():
            if self.context_param is None and _is_context_param(p):
                self.context_param = p.name
                continue
            if p.kind is p.VAR_POSITIONAL:
                raise GraphDefinitionError(
                    f"{kind} {name!r} takes *{p.name}; inputs are named, so declare each one "
                    "as a parameter (or take a list)"
                )
            if p.kind is p.VAR_KEYWORD:
                self.var_keyword = True
                continue
            params.append(p.name)
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positional.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
            else:
                defaults[p.name] = p.default
        if inputs is not None:
            unknown = [i for i in inputs if i not in params] if not self.var_keyword else []
            if unknown:
                raise GraphDefinitionError(
                    f"{kind} {name!r} declares inputs {unknown} that are not parameters of the "
                    f"function (parameters: {params})"
                )
        self.params = tuple(params)
        self.positional = tuple(positional)
        self.required = tuple(required)
        self.defaults = defaults
        self.outputs: tuple[str, ...] | None = _check_outputs(kind, name, outputs)
        self._declared_keys = frozenset(self.outputs or ())
        self.types = InputTypes.of(fn, self.params, self.where)
        self.call_inputs: Callable[[dict[str, Any]], dict[str, Any]] = (
            _as_given if self.types is None else self.types.coerce
        )
        """``inputs`` as the function takes them: converted to its annotations (InputTypes)."""

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Map call arguments onto input names (without the context parameter)."""
        if len(args) > len(self.positional):
            raise InputValidationError(
                f"{self.kind} {self.name!r} takes {len(self.positional)} positional inputs "
                f"({', '.join(self.positional) or 'none'}) but got {len(args)}"
            )
        bound = dict(zip(self.positional, args, strict=False))
        for key, value in kwargs.items():
            if key in bound:
                raise InputValidationError(
                    f"{self.kind} {self.name!r} got input {key!r} both by position and by name"
                )
            bound[key] = value
        return bound

    def check_inputs(self, inputs: Mapping[str, Any], where: str) -> None:
        """Raise ``InputValidationError`` for unknown or missing inputs."""
        if not self.var_keyword:
            for key in inputs:
                if not isinstance(key, str):
                    raise InputValidationError(
                        f"{where}: input names must be str, got {type(key).__name__} {key!r}"
                    )
                if key not in self.params:
                    close = difflib.get_close_matches(key, self.params, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise InputValidationError(
                        f"{where}: unknown input {key!r}{hint} "
                        f"(inputs: {', '.join(self.params) or 'none'})"
                    )
        for key in self.required:
            if key not in inputs:
                hint = ""
                if key in ("ctx", "node_context") and self.context_param is None:
                    hint = (
                        f"; if {key!r} is meant to receive the NodeContext, name the parameter "
                        f"`context` (or annotate it `{key}: NodeContext`)"
                    )
                raise InputValidationError(
                    f"{where}: missing required input {key!r} "
                    f"(required: {', '.join(self.required)}){hint}"
                )

    def check_call(self, exc: TypeError, inputs: Mapping[str, Any]) -> None:
        """Raise a clear error for ``exc`` if calling the function failed on its inputs' names.

        With an unknown or missing input the call cannot have bound its arguments, so ``exc``
        is that failure: an ``InputValidationError`` naming the input (and the close name)
        replaces it. Otherwise ``exc`` came from inside the function and is left to propagate.
        """
        try:
            self.check_inputs(inputs, self.where)
        except InputValidationError as clear:
            raise clear from exc

    def run_inputs(self, inputs: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The inputs as stored with a run: checked against the annotations, in JSON form.

        Unknown, missing, mistyped or non-JSON inputs are an ``InputValidationError`` naming them.
        """
        self.check_inputs(inputs, where)
        values = dict(inputs)
        if self.types is not None:
            values = self.types.coerce(values)
        return json_inputs(values, where)

    def to_outputs(self, result: Any, run_id: str, node_id: str = "root") -> dict[str, Any]:
        """Apply the output contract to a return value; the outputs in JSON form.

        A dict is the outputs; a non-dict maps onto a single declared output (or ``result`` when
        none is declared); ``None`` with nothing declared is no outputs. A value with no JSON
        form is an ``OutputContractError`` naming the run, node, output and type (see payload).
        """
        return json_outputs(self._outputs(result, run_id), self.where, node_id, run_id)

    def _outputs(self, result: Any, run_id: str) -> dict[str, Any]:
        declared = self.outputs
        if isinstance(result, dict):
            if declared and not self._declared_keys <= result.keys():
                missing = [k for k in declared if k not in result]
                if missing:
                    raise OutputContractError(
                        f"{self.kind} {self.name!r} in run {run_id} returned no value for "
                        "declared output "
                        f"{', '.join(repr(m) for m in missing)} (it returned keys "
                        f"{sorted(map(str, result))}); return a dict with every declared output"
                    )
            return result
        if declared:
            if len(declared) == 1:
                return {declared[0]: result}
            raise OutputContractError(
                f"{self.kind} {self.name!r} in run {run_id} returned "
                f"{type(result).__name__}, but declares outputs "
                f"{list(declared)}; return a dict with those keys"
            )
        if result is None:
            return {}
        return {"result": result}


def _as_given(inputs: dict[str, Any]) -> dict[str, Any]:
    return inputs


def declared_names(where: str, arg: str, value: Any) -> tuple[str, ...] | None:
    """A decorator's ``inputs=`` or ``outputs=``: ``None``, a name, or a list of names."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise GraphDefinitionError(
            f"{where}: {arg} must be a list of names (str), got {type(value).__name__} "
            f"{value!r}; e.g. {arg}=['result']"
        )
    for item in value:
        if not isinstance(item, str):
            raise GraphDefinitionError(
                f"{where}: {arg} must be a list of names (str), but it holds "
                f"{type(item).__name__} {item!r}"
            )
    return tuple(value)


def declared_name(kind: str, name: Any) -> None:
    """A decorator's ``name``: ``None`` or a non-empty str."""
    if name is not None and (not isinstance(name, str) or not name):
        raise GraphDefinitionError(
            f"@{kind} takes a function (@{kind}) or a non-empty str name "
            f"(@{kind}(name='...')); got {type(name).__name__} {name!r}"
        )


def declared_seconds(where: str, arg: str, value: Any) -> float | None:
    """A decorator's duration in seconds: ``None`` or a positive number (not NaN)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise GraphDefinitionError(
            f"{where}: {arg} must be a positive number of seconds, got {type(value).__name__} "
            f"{value!r}"
        )
    return float(value)


def _check_outputs(kind: str, name: str, outputs: Sequence[str] | None) -> tuple[str, ...] | None:
    names = declared_names(f"{kind} {name!r}", "outputs", outputs)
    if names is None:
        return None
    for o in names:
        if not isinstance(o, str) or not o:
            raise GraphDefinitionError(
                f"{kind} {name!r} declares output {o!r}; output names must be non-empty strings"
            )
    dupes = {o for o in names if names.count(o) > 1}
    if dupes:
        raise GraphDefinitionError(f"{kind} {name!r} declares output {sorted(dupes)} twice")
    return names


P = ParamSpec("P")
R = TypeVar("R")


class DeclaredFunction(Generic[P, R]):
    """What ``@graph_fn`` and ``@tool`` share: the function, its name and version, its signature.

    Generic in the function's parameters and return type, so type checkers see the signature of
    the decorated function.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        kind: str,
        name: str | None,
        inputs: Sequence[str] | None,
        outputs: Sequence[str] | None,
        version: str,
    ) -> None:
        if not callable(fn):
            raise GraphDefinitionError(f"@{kind} decorates a function, got {fn!r}")
        self.fn = fn
        self.name: str = name or fn.__name__
        self.version = version
        self.is_async = inspect.iscoroutinefunction(fn)
        self.sig = FunctionSignature(fn, kind=kind, name=self.name, inputs=inputs, outputs=outputs)
        self.body: Callable[..., Any] = fn if self.is_async else sync_body(fn, self.sig.where)
        """What a run calls: ``fn``, or for a sync function ``fn`` checked for a lost await."""
        functools.update_wrapper(cast("Any", self), fn)  # name, doc and module of the function
