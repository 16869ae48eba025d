"""Tool placement: ``@tool(resources={...})`` runs the tool's body where those resources are.

A placed tool is still a node of its run: the node record, its events and its journal step are
written by the process hosting the run, as for any tool. Only the body goes elsewhere, through the
runtime's ``placement``: under the Ray executor each worker has one that runs the body as a Ray
task with the tool's resources (``executors/ray_placement.py``). Without one (the in-process
executor), ``resources`` are accepted and ignored: the body runs in the node, as usual.

Resources are what Ray schedules by: ``num_cpus``, ``num_gpus``, ``memory`` (bytes) and custom
resources by name, each a non-negative number.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import GraphDefinitionError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from aethergraph.core.engine.tool import Tool

__all__ = ["Placement", "checked_resources", "placed_body"]

_RAY_NAMES = {"CPU": "num_cpus", "GPU": "num_gpus"}


class Placement(Protocol):
    """Runs the bodies of placed tools away from the node that calls them."""

    async def call(self, tool: Tool[..., Any], inputs: dict[str, Any]) -> Any:
        """The result of ``tool``'s function called with ``inputs`` where its resources are."""


def checked_resources(where: str, resources: Any) -> dict[str, float] | None:
    """``resources`` as a dict of resource name to amount; ``GraphDefinitionError`` if malformed.

    ``where`` names the tool, for the message.
    """
    if resources is None:
        return None
    if not isinstance(resources, dict):
        raise GraphDefinitionError(
            f"{where}: resources must be a dict of resource name to amount, such as "
            f'{{"num_gpus": 1}}, got {type(resources).__name__} {resources!r}'
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise GraphDefinitionError(
                f"{where}: resources has the key {name!r}; resource names are non-empty str "
                '(num_cpus, num_gpus, memory, or a custom resource such as "trainer")'
            )
        if name in ("CPU", "GPU"):
            raise GraphDefinitionError(
                f"{where}: resources names {name!r}; ask for it as {_RAY_NAMES[name]!r}"
            )
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not math.isfinite(amount)
            or amount < 0
        ):
            raise GraphDefinitionError(
                f"{where}: resources[{name!r}] must be a non-negative number, got "
                f"{type(amount).__name__} {amount!r}"
            )
        checked[name] = amount
    return checked


def placed_body(
    tool: Tool[..., Any], local: Callable[..., Any]
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The body of a placed tool: the runtime's placement runs it, else ``local`` does, here.

    ``local`` is the tool's own body (a coroutine function if ``tool.is_async``).
    """
    is_async = tool.is_async

    async def body(**inputs: Any) -> Any:
        placement = current_runtime().placement
        if placement is not None:
            return await placement.call(tool, inputs)
        result = local(**inputs)
        return await result if is_async else result

    return body
