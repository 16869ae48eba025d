"""Anthropic, on the official ``anthropic`` SDK, translated from the OpenAI message shape.

System messages become the ``system`` parameter, assistant tool calls ``tool_use`` blocks and
tool results ``tool_result`` blocks of a user turn. Structured output is asked for in the system
prompt and checked by the caller, like any other reply.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aethergraph.errors import ConfigurationError, LLMError
from aethergraph.services.llm.backend import (
    ChatRequest,
    Reply,
    SDKBackend,
    ToolCall,
    provider_error,
)
from aethergraph.services.llm.profiles import env_prefix

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aethergraph.services.llm.profiles import Profile

__all__ = ["AnthropicBackend", "to_anthropic"]

DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires ``max_tokens``; used when the call gives none."""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": str(content)}] if content else []


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the Anthropic turns for OpenAI-shaped ``messages``."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            system.append(str(message["content"]))
            continue
        if role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message["tool_call_id"],
                    "content": str(message["content"]),
                }
            ]
        else:
            blocks = _blocks(message.get("content"))
            for call in message.get("tool_calls") or ():
                function = call["function"]
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": function["name"],
                        "input": json.loads(function["arguments"] or "{}"),
                    }
                )
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # Anthropic wants turns to alternate
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


class AnthropicBackend(SDKBackend):
    """Chat, streaming and raw requests through ``anthropic.AsyncAnthropic``."""

    def __init__(self, profile: Profile) -> None:
        import anthropic

        self.provider = profile.provider
        self._profile = profile
        self._errors: tuple[type[Exception], ...] = (anthropic.AnthropicError,)
        key = profile.resolved_api_key()
        if key is None:
            if profile.base_url is None:
                raise ConfigurationError(
                    f"LLM profile {profile.name!r} (anthropic) has no API key: set "
                    f"{env_prefix(profile.name)}API_KEY or ANTHROPIC_API_KEY, or pass api_key= "
                    f"to register_llm_client({profile.name!r}, ...)"
                )
            key = "unused"
        kwargs: dict[str, Any] = {"api_key": key, "base_url": profile.base_url}
        if profile.timeout is not None:
            kwargs["timeout"] = profile.timeout
        self._client: Any = anthropic.AsyncAnthropic(**kwargs)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, turns = to_anthropic(request.messages)
        if request.json_schema is not None:
            system = (
                (f"{system}\n\n" if system else "")
                + "Reply with only a JSON value that matches this JSON schema, no other text:\n"
                + (json.dumps(request.json_schema))
            )
        params: dict[str, Any] = {
            "model": request.model,
            "messages": turns,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        }
        if system:
            params["system"] = system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        params.update(request.options)
        return params

    def _reply(self, message: Any, model: str) -> Reply:
        text = "".join(b.text for b in message.content if b.type == "text")
        calls = [
            ToolCall(b.id, b.name, dict(b.input)) for b in message.content if b.type == "tool_use"
        ]
        usage = message.usage
        return Reply(
            text=text,
            model=message.model or model,
            prompt_tokens=usage.input_tokens if usage else 0,
            completion_tokens=usage.output_tokens if usage else 0,
            finish_reason=message.stop_reason,
            tool_calls=calls,
        )

    async def chat(self, request: ChatRequest) -> Reply:
        """One completion."""
        try:
            message = await self._client.messages.create(**self._params(request))
        except self._errors as exc:
            raise provider_error(exc, self._profile, "chat") from exc
        return self._reply(message, request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Reply]:
        """Text deltas as they come, then the final ``Reply`` (with usage)."""
        try:
            async with self._client.messages.stream(**self._params(request)) as stream:
                async for delta in stream.text_stream:
                    yield delta
                final = await stream.get_final_message()
        except self._errors as exc:
            raise provider_error(exc, self._profile, "chat_stream") from exc
        yield self._reply(final, request.model)

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], int]:
        """Anthropic has no embeddings endpoint: always an ``LLMError`` that says what to do."""
        raise LLMError(
            f"LLM profile {self._profile.name!r} is an Anthropic profile, and Anthropic has no "
            "embeddings API; call embed() on an OpenAI-compatible profile, e.g. "
            "context.llm('embed').embed(texts)",
            provider=self.provider,
            profile=self._profile.name,
        )
