"""Built-in channel tools: ordinary ``@tool``s, awaited in a graph_fn or declared in a graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aethergraph.core.engine.tool import tool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aethergraph.core.engine.context import NodeContext

__all__ = ["ask_approval", "ask_choice", "ask_text", "send_text", "wait_text"]


@tool(outputs=[], name="send_text")
async def send_text(
    text: str, *, channel: str | None = None, context: NodeContext
) -> dict[str, Any]:
    """Send a line of text on a channel."""
    await context.channel(channel).send_text(text)
    return {}


@tool(outputs=["text"], name="ask_text")
async def ask_text(
    prompt: str,
    *,
    channel: str | None = None,
    timeout_s: float | None = None,
    context: NodeContext,
) -> dict[str, Any]:
    """Ask a question; output ``text``."""
    return {"text": await context.channel(channel).ask_text(prompt, timeout_s=timeout_s)}


@tool(outputs=["text"], name="wait_text")
async def wait_text(
    *, channel: str | None = None, timeout_s: float | None = None, context: NodeContext
) -> dict[str, Any]:
    """Wait for the next text message; output ``text``."""
    return {"text": await context.channel(channel).wait_text(timeout_s=timeout_s)}


@tool(outputs=["approved", "choice"], name="ask_approval")
async def ask_approval(
    prompt: str,
    options: Sequence[str] = ("Approve", "Reject"),
    *,
    channel: str | None = None,
    timeout_s: float | None = None,
    context: NodeContext,
) -> dict[str, Any]:
    """Ask for approval; outputs ``approved`` and ``choice``."""
    return await context.channel(channel).ask_approval(prompt, options, timeout_s=timeout_s)


@tool(outputs=["choice"], name="ask_choice")
async def ask_choice(
    prompt: str,
    options: Sequence[str],
    *,
    channel: str | None = None,
    timeout_s: float | None = None,
    context: NodeContext,
) -> dict[str, Any]:
    """Ask to pick one option; output ``choice``."""
    return {
        "choice": await context.channel(channel).ask_choice(prompt, options, timeout_s=timeout_s)
    }
