"""OpenAI and every OpenAI-compatible endpoint, on the official ``openai`` SDK.

The SDK is imported when the first profile that needs it is used, not before. Retries of
transient failures (429, 5xx, timeouts, connection errors) are the SDK's own, with its backoff.
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

__all__ = ["OpenAIBackend"]

# Endpoints that run on the caller's machine accept any key.
_KEYLESS = frozenset({"lmstudio", "ollama", "vllm"})


def _client_kwargs(profile: Profile) -> dict[str, Any]:
    key = profile.resolved_api_key()
    if key is None:
        if profile.base_url is None and profile.provider not in _KEYLESS:
            prefix = env_prefix(profile.name)
            raise ConfigurationError(
                f"LLM profile {profile.name!r} ({profile.provider}) has no API key: set "
                f"{prefix}API_KEY or OPENAI_API_KEY, or pass api_key= to "
                f"register_llm_client({profile.name!r}, ...)"
            )
        key = "unused"
    kwargs: dict[str, Any] = {"api_key": key}
    if profile.timeout is not None:
        kwargs["timeout"] = profile.timeout
    return kwargs


class OpenAIBackend(SDKBackend):
    """Chat, streaming, embeddings and raw requests through ``openai.AsyncOpenAI``."""

    def __init__(self, profile: Profile) -> None:
        import openai

        self.provider = profile.provider
        self._profile = profile
        self._errors: tuple[type[Exception], ...] = (openai.OpenAIError,)
        kwargs = _client_kwargs(profile)
        if profile.provider == "azure":
            if profile.base_url is None:
                raise ConfigurationError(
                    f"LLM profile {profile.name!r} (azure) needs the resource endpoint: set "
                    f"{env_prefix(profile.name)}BASE_URL or pass base_url= to register_llm_client"
                )
            # The API version comes from OPENAI_API_VERSION, read by the SDK.
            self._client: Any = openai.AsyncAzureOpenAI(azure_endpoint=profile.base_url, **kwargs)
        else:
            self._client = openai.AsyncOpenAI(base_url=profile.resolved_base_url(), **kwargs)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": request.model, "messages": request.messages}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        if request.json_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.json_schema},
            }
        params.update(request.options)
        return params

    async def chat(self, request: ChatRequest) -> Reply:
        """One completion."""
        try:
            response = await self._client.chat.completions.create(**self._params(request))
        except self._errors as exc:
            raise provider_error(exc, self._profile, "chat") from exc
        if not response.choices:
            raise LLMError(
                f"chat with LLM profile {self._profile.name!r} ({self.provider}) got a reply "
                "with no choices",
                provider=self.provider,
                profile=self._profile.name,
            )
        choice = response.choices[0]
        message = choice.message
        usage = response.usage
        return Reply(
            text=message.content or "",
            model=response.model or request.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason,
            tool_calls=[self._tool_call(tc) for tc in message.tool_calls or ()],
        )

    def _tool_call(self, call: Any) -> ToolCall:
        text = call.function.arguments or "{}"
        try:
            arguments = json.loads(text)
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            raise LLMError(
                f"LLM profile {self._profile.name!r} asked to call tool {call.function.name!r} "
                f"with arguments that are not a JSON object: {text[:200]!r}",
                provider=self.provider,
                profile=self._profile.name,
            )
        return ToolCall(call.id, call.function.name, arguments)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Reply]:
        """Text deltas as they come, then the final ``Reply`` (with usage)."""
        params = self._params(request)
        params["stream"] = True
        params.setdefault("stream_options", {"include_usage": True})
        parts: list[str] = []
        reply = Reply(text="", model=request.model)
        try:
            stream = await self._client.chat.completions.create(**params)
            async for chunk in stream:
                if chunk.usage is not None:
                    reply.prompt_tokens = chunk.usage.prompt_tokens
                    reply.completion_tokens = chunk.usage.completion_tokens
                if chunk.model:
                    reply.model = chunk.model
                for choice in chunk.choices:
                    if choice.finish_reason:
                        reply.finish_reason = choice.finish_reason
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        parts.append(delta)
                        yield delta
        except self._errors as exc:
            raise provider_error(exc, self._profile, "chat_stream") from exc
        reply.text = "".join(parts)
        yield reply

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], int]:
        """Vectors of ``texts``, in order, and the prompt tokens used."""
        try:
            response = await self._client.embeddings.create(model=model, input=texts)
        except self._errors as exc:
            raise provider_error(exc, self._profile, "embed") from exc
        data = sorted(response.data, key=lambda d: d.index)
        tokens = response.usage.prompt_tokens if response.usage else 0
        return [list(d.embedding) for d in data], tokens
