"""``@graph_fn``: an async (or sync) function that is an agent; awaiting it starts a run."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, overload

from aethergraph.core.engine.catalog import register_graph
from aethergraph.core.engine.run import run_async
from aethergraph.core.engine.signature import DeclaredFunction, P, R, declared_name, declared_names

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

__all__ = ["GraphFunction", "graph_fn"]


class GraphFunction(DeclaredFunction[P, R]):
    """A function declared with ``@graph_fn``. Awaiting a call runs it; inside a run, as a child."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        version: str = "0.1.0",
        description: str | None = None,
    ) -> None:
        super().__init__(
            fn, kind="graph_fn", name=name, inputs=inputs, outputs=outputs, version=version
        )
        self.description = description if description is not None else inspect.getdoc(fn)
        register_graph(self.name, self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, dict[str, Any]]:
        """Start a run of this graph with the given inputs; await it for the outputs."""
        if self.sig.context_param is not None:
            kwargs.pop(self.sig.context_param, None)
        return run_async(self, self.sig.bind(args, kwargs))

    def __repr__(self) -> str:
        return f"<graph_fn {self.name!r} v{self.version}>"


@overload
def graph_fn(name: Callable[P, R]) -> GraphFunction[P, R]: ...
@overload
def graph_fn(
    name: str | None = None,
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    version: str = "0.1.0",
    description: str | None = None,
) -> Callable[[Callable[P, R]], GraphFunction[P, R]]: ...
def graph_fn(
    name: str | Callable[P, R] | None = None,
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    version: str = "0.1.0",
    description: str | None = None,
) -> GraphFunction[P, R] | Callable[[Callable[P, R]], GraphFunction[P, R]]:
    """Declare an agent: ``@graph_fn`` or ``@graph_fn(name=..., outputs=[...])``."""
    if callable(name):
        return GraphFunction(name)
    declared_name("graph_fn", name)
    declared_names("@graph_fn", "inputs", inputs)
    declared_names("@graph_fn", "outputs", outputs)

    def decorate(fn: Callable[P, R]) -> GraphFunction[P, R]:
        return GraphFunction(
            fn,
            name=name,
            inputs=inputs,
            outputs=outputs,
            version=version,
            description=description,
        )

    return decorate
