"""Placed tools on Ray: the body of a ``@tool(resources=...)`` call runs as a Ray task.

Each Ray worker actor of ``RayExecutor`` sets a ``RayPlacement`` as its runtime's placement. A
placed tool called in a run it hosts stays a node of that run there (record, events, journal);
only the body goes to a Ray task scheduled with the tool's resources. The task imports the tool's
module and finds the tool by name and version, as workers find graphs.

Arguments and results travel by value, in their JSON form (as the node record keeps them); the
output contract is applied in the task. A payload over ``LARGE_PAYLOAD`` bytes of JSON travels as
an artifact of the node instead: the task reads, or writes, its bytes in the run's storage (the
shared artifact root, or the database), and the Ray call carries only the digest.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayTaskError

from aethergraph.core.engine.catalog import find_tool
from aethergraph.core.engine.payload import json_inputs
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.errors import ConfigurationError
from aethergraph.services.runtime.base import _current_context

if TYPE_CHECKING:
    from aethergraph.core.engine.tool import Tool
    from aethergraph.storage.protocols import Storage

__all__ = ["LARGE_PAYLOAD", "RayPlacement", "ray_options"]

LARGE_PAYLOAD = 1 << 20
"""Bytes of JSON above which a placed tool's arguments or result travel as an artifact."""

_BUILTIN = ("num_cpus", "num_gpus", "memory")

Sent = tuple[str, str]
"""A payload on the wire: ``("json", text)``, or ``("blob", sha256)`` of its stored text."""


def ray_options(resources: dict[str, float]) -> dict[str, Any]:
    """Ray's task options for ``resources``: the built-in ones by keyword, the rest by name."""
    options: dict[str, Any] = {k: v for k, v in resources.items() if k in _BUILTIN}
    custom = {k: v for k, v in resources.items() if k not in _BUILTIN}
    if custom:
        options["resources"] = custom
    return options


def tool_module(tool: Tool[..., Any]) -> str:
    """The importable module defining ``tool``; ``ConfigurationError`` when there is none."""
    module = tool.fn.__module__
    if module in ("__main__", "__mp_main__"):
        raise ConfigurationError(
            f"tool {tool.name!r} asks for resources but is defined in __main__ (a script or a "
            "notebook), so a Ray task cannot import it; move it into a module of its own, or "
            "ship that module with Ray's runtime env (py_modules=[...])"
        )
    return module


class RayPlacement:
    """Runs placed tools as Ray tasks; set as the placement of a Ray worker's runtime."""

    def __init__(self, database_url: str, artifact_root: str | None) -> None:
        self._store = (database_url, artifact_root)
        self._task = ray.remote(_run_tool)

    async def call(self, tool: Tool[..., Any], inputs: dict[str, Any]) -> Any:
        """Run ``tool``'s function on ``inputs`` in a Ray task with its resources; its result."""
        ctx = _current_context.get()
        if ctx is None:  # a placed body is only called inside its node
            raise RuntimeError(f"tool {tool.name!r} was placed outside a running node")
        where = f"tool {tool.name!r} (node {ctx.node_id!r} of run {ctx.run_id})"
        text = json.dumps(json_inputs(inputs, where), ensure_ascii=False)
        sent: Sent = ("json", text)
        if len(text.encode()) > LARGE_PAYLOAD:
            saved = await ctx.artifacts().save_text(
                text, kind="tool_arguments", mime="application/json", name=tool.name
            )
            sent = ("blob", saved.sha256)
        options = ray_options(tool.resources or {})
        node = (ctx.run_id, ctx.node_id)
        ref = self._task.options(**options, name=f"aethergraph:{tool.name}").remote(
            self._store, tool_module(tool), tool.name, tool.version, node, sent
        )
        try:
            kind, value = await ref
        except asyncio.CancelledError:
            ray.cancel(ref)  # the node was cancelled or ran past its timeout: so is the task
            raise
        except RayTaskError as exc:
            cause = exc.cause
            raise (cause if isinstance(cause, BaseException) else exc) from None
        if kind == "blob":
            data = await current_runtime().storage().read_bytes(value)
            await ctx.artifacts().save_bytes(
                data, kind="tool_result", mime="application/json", name=tool.name
            )
            value = data.decode()
        return json.loads(value)


def _run_tool(
    store: tuple[str, str | None],
    module: str,
    name: str,
    version: str,
    node: tuple[str, str],
    sent: Sent,
) -> Sent:
    """The Ray task: call the tool's function on the sent arguments; its outputs, sent back."""
    importlib.import_module(module)
    tool = find_tool(name, version, graph=f"run {node[0]}")
    return asyncio.run(_call(tool, store, node, sent))


async def _call(
    tool: Tool[..., Any], store: tuple[str, str | None], node: tuple[str, str], sent: Sent
) -> Sent:
    kind, value = sent
    if kind == "blob":
        value = (await _storage(store).read_bytes(value)).decode()
    result = tool.fn(**tool.sig.call_inputs(json.loads(value)))
    if asyncio.iscoroutine(result):
        result = await result
    # The output contract applies here, so what travels back is the outputs' JSON form.
    text = json.dumps(tool.sig.to_outputs(result, *node), ensure_ascii=False)
    if len(text.encode()) <= LARGE_PAYLOAD:
        return ("json", text)
    return ("blob", await _storage(store).put_bytes(text.encode()))


def _storage(store: tuple[str, str | None]) -> Storage:
    """The run's storage, in this task's process."""
    runtime = current_runtime()
    database_url, artifact_root = store
    runtime.configure(database_url=database_url, artifact_root=artifact_root)
    return runtime.storage()
