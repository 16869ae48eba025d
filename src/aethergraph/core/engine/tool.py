"""``@tool``: a reusable, versioned operation with declared outputs.

One object, three behaviours, chosen by where it is called: inside a ``@graphify`` builder a call
declares a node and returns its handle; inside a running node it runs at once as a child node of
the run (await it); anywhere else it is the plain function.

A tool declared with ``resources`` is placed: inside a run its body runs where the runtime's
placement puts it (a Ray task under the Ray executor), see ``placement``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, overload

from aethergraph.core.engine.catalog import register_tool
from aethergraph.core.engine.placement import checked_resources, placed_body
from aethergraph.core.engine.retry import RetryPolicy
from aethergraph.core.engine.signature import (
    DeclaredFunction,
    P,
    R,
    declared_name,
    declared_names,
    declared_seconds,
)
from aethergraph.core.engine.tool_node import call_tool_node
from aethergraph.core.graph.tracing import BUILDER
from aethergraph.errors import GraphDefinitionError
from aethergraph.services.runtime.base import _current_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["Tool", "declared_tools", "tool"]

_NODE_OPTIONS = ("_id", "_alias", "_after")
_declared: ContextVar[dict[str, Tool[..., Any]] | None] = ContextVar(
    "aethergraph_declared_tools", default=None
)


@contextmanager
def declared_tools(into: dict[str, Tool[..., Any]]) -> Iterator[dict[str, Tool[..., Any]]]:
    """Collect, by name, the tools that graph builders declare nodes for inside the block."""
    token = _declared.set(into)
    try:
        yield into
    finally:
        _declared.reset(token)


class Tool(DeclaredFunction[P, R]):
    """A function declared with ``@tool``."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        version: str = "0.1.0",
        timeout_s: float | None = None,
        retry: RetryPolicy | int | None = None,
        resources: dict[str, float] | None = None,
    ) -> None:
        super().__init__(
            fn, kind="tool", name=name, inputs=inputs, outputs=outputs, version=version
        )
        where = f"tool {self.name!r}"
        self.timeout_s = declared_seconds(where, "timeout_s", timeout_s)
        self.retry = RetryPolicy.coerce(retry)
        self.resources = checked_resources(where, resources)
        """What the tool's body needs where it runs (``None``: nothing, it runs in its node)."""
        if self.resources is not None:
            if self.sig.context_param is not None:
                raise GraphDefinitionError(
                    f"{where} asks for resources, so its body may run in another process, away "
                    f"from its run, and cannot take the run's context ({self.sig.context_param!r})"
                    "; pass what it needs as arguments, or drop resources="
                )
            self.body = placed_body(self, self.body)
            self.is_async = True  # the body is a coroutine function now
        register_tool(self)

    @property
    def outputs(self) -> tuple[str, ...] | None:
        """The declared output names (``None`` when taken from the returned dict)."""
        return self.sig.outputs

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Declare a node (in a builder), run a child node (in a run), or call the function."""
        builder = BUILDER.get()  # current_builder(), inlined: this is every tool call's path
        if builder is not None:
            return self._declare(builder, args, kwargs)
        parent = _current_context.get()
        if parent is not None:
            return call_tool_node(self, parent, args, kwargs)
        return self.fn(*args, **kwargs)

    def _declare(self, builder: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        options = {k: kwargs.pop(k) for k in _NODE_OPTIONS if k in kwargs}
        if self.sig.context_param is not None and self.sig.context_param in kwargs:
            raise GraphDefinitionError(
                f"tool {self.name!r} was given {self.sig.context_param}= inside a graphify "
                "builder; the node receives its own context when it runs, so leave it out"
            )
        inputs = self.sig.bind(args, kwargs)
        self.sig.check_inputs(inputs, f"tool {self.name!r} in graph {builder.name!r}")
        seen = _declared.get()
        if seen is not None:
            other = seen.setdefault(self.name, self)
            if other is not self:
                raise GraphDefinitionError(
                    f"graph {builder.name!r} uses two different tools named {self.name!r} "
                    f"({other.fn.__module__}.{other.fn.__qualname__} and "
                    f"{self.fn.__module__}.{self.fn.__qualname__}); give one another name="
                )
        return builder.add_node(
            tool=self.name,
            version=self.version,
            inputs=inputs,
            outputs=self.sig.outputs,
            node_id=options.get("_id"),
            alias=options.get("_alias"),
            after=options.get("_after"),
        )

    def __repr__(self) -> str:
        return f"<tool {self.name!r} v{self.version}>"


@overload
def tool(outputs: Callable[P, R]) -> Tool[P, R]: ...
@overload
def tool(
    outputs: Sequence[str] | str | None = None,
    inputs: Sequence[str] | None = None,
    *,
    name: str | None = None,
    version: str = "0.1.0",
    timeout_s: float | None = None,
    retry: RetryPolicy | int | None = None,
    resources: dict[str, float] | None = None,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    outputs: Sequence[str] | str | Callable[P, R] | None = None,
    inputs: Sequence[str] | None = None,
    *,
    name: str | None = None,
    version: str = "0.1.0",
    timeout_s: float | None = None,
    retry: RetryPolicy | int | None = None,
    resources: dict[str, float] | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Declare a tool: ``@tool``, ``@tool(["out"])`` or ``@tool(name=..., outputs=[...])``.

    ``timeout_s`` and ``retry`` apply to each node the tool runs as. ``resources`` (a Ray
    resource dict: ``{"num_gpus": 1}``, ``num_cpus``, ``memory`` in bytes, custom resources by
    name) runs the tool's body as a Ray task with those resources when the run executes on the
    Ray executor; the in-process executor accepts and ignores it. Arguments and results then
    travel by value, as JSON, so such a tool takes no context.
    """
    if callable(outputs):
        return Tool(outputs)
    declared = declared_names("@tool", "outputs", outputs)
    declared_names("@tool", "inputs", inputs)
    declared_name("tool", name)
    declared_seconds("@tool", "timeout_s", timeout_s)
    RetryPolicy.coerce(retry)  # a bad policy fails here, at the decorator

    def decorate(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool(
            fn,
            name=name,
            inputs=inputs,
            outputs=declared,
            version=version,
            timeout_s=timeout_s,
            retry=retry,
            resources=resources,
        )

    return decorate
