"""``@tool`` functions offered to a model: their JSON schema, and running the calls the model makes.

A call runs through the tool object itself, so inside a running node it becomes a child node of
the run (recorded, retried and timed out like any tool call).
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import TYPE_CHECKING, Any

from aethergraph.errors import RunError
from aethergraph.services.llm.backend import ToolSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aethergraph.core.engine.tool import Tool
    from aethergraph.services.llm.backend import ToolCall

__all__ = ["call_tool", "tool_specs"]

_ARG_LINE = re.compile(r"^(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the per-argument descriptions of a Google docstring."""
    if not doc:
        return "", {}
    text = inspect.cleandoc(doc)
    summary = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    args: dict[str, str] = {}
    lines = text.splitlines()
    if "Args:" not in lines:
        return summary, args
    current: str | None = None
    for line in lines[lines.index("Args:") + 1 :]:
        if line.strip() and not line.startswith(" "):
            break  # the next section
        match = _ARG_LINE.match(line.strip())
        if match and not line.startswith("     "):
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None and line.strip():
            args[current] += " " + line.strip()
    return summary, args


def _parameters(tool: Tool[..., Any]) -> dict[str, Any]:
    from pydantic import create_model

    fn = tool.fn
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    _, arg_docs = _docstring_parts(fn.__doc__)
    signature = inspect.signature(fn)
    fields: dict[str, Any] = {}
    for name in tool.sig.params:
        param = signature.parameters[name]
        annotation = hints.get(name, Any)
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
    model = create_model(f"{tool.name}_arguments", **fields)
    schema: dict[str, Any] = model.model_json_schema()
    schema.pop("title", None)
    for name, prop in schema.get("properties", {}).items():
        prop.pop("title", None)
        if name in arg_docs:
            prop["description"] = arg_docs[name]
    schema.setdefault("properties", {})
    schema["type"] = "object"
    return schema


def _check_tool(obj: object) -> Tool[..., Any]:
    named = isinstance(getattr(obj, "name", None), str)
    if not (named and hasattr(obj, "sig") and hasattr(obj, "fn")):
        raise TypeError(
            f"llm chat(tools=[...]) takes @tool functions; {obj!r} is not one. Decorate it with "
            "@aethergraph.tool (its JSON schema comes from its signature and docstring)"
        )
    return typing.cast("Tool[..., Any]", obj)


async def tool_specs(tools: Sequence[object]) -> tuple[list[ToolSpec], dict[str, Tool[..., Any]]]:
    """The specs to send to the model, and the tools by name.

    A tool with an async ``describe()`` (an MCP tool) gives its own description and schema.
    """
    by_name: dict[str, Tool[..., Any]] = {}
    specs: list[ToolSpec] = []
    for obj in tools:
        declared = _check_tool(obj)
        if declared.name in by_name:
            raise ValueError(f"llm chat(tools=[...]) names tool {declared.name!r} twice")
        by_name[declared.name] = declared
        describe = getattr(declared, "describe", None)
        if describe is not None:
            summary, parameters = await describe()
        else:
            summary = _docstring_parts(declared.fn.__doc__)[0]
            parameters = _parameters(declared)
        specs.append(ToolSpec(declared.name, summary or declared.name, parameters))
    return specs, by_name


def _as_text(outputs: Any) -> str:
    if isinstance(outputs, dict) and list(outputs) == ["result"]:
        outputs = outputs["result"]
    if isinstance(outputs, str):
        return outputs
    return json.dumps(outputs, default=str)


async def call_tool(call: ToolCall, tools: dict[str, Tool[..., Any]]) -> str:
    """Run one call the model made; what to tell the model (the outputs, or what went wrong).

    A failing tool is reported back to the model so that it can correct itself; a run-level
    stop (cancellation, a wait left for a human, a timeout) propagates.
    """
    declared = tools.get(call.name)
    if declared is None:
        return f"error: there is no tool named {call.name!r}; tools: {', '.join(tools)}"
    try:
        result = declared(**call.arguments)
        if inspect.isawaitable(result):
            result = await result
    except RunError:
        raise
    except Exception as exc:  # noqa: BLE001 - the model is told, and the child node records it
        return f"error: tool {call.name!r} failed: {type(exc).__name__}: {exc}"
    return _as_text(result)
