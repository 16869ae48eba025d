"""What every provider backend does: one request shape in, one reply shape out.

Messages are kept in the OpenAI chat shape (``role``/``content``, assistant ``tool_calls``,
``tool`` results) because most providers speak it; the Anthropic backend translates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from aethergraph.errors import LLMError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aethergraph.services.llm.profiles import Profile

__all__ = [
    "Backend",
    "ChatRequest",
    "Reply",
    "SDKBackend",
    "ToolCall",
    "ToolSpec",
    "provider_error",
    "raw_request",
    "scrub",
]


class ToolSpec(NamedTuple):
    """A function the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]


class ToolCall(NamedTuple):
    """One call the model asked for; ``arguments`` is already parsed JSON."""

    id: str
    name: str
    arguments: dict[str, Any]


class ChatRequest:
    """One chat completion request (plain slots: made on every call)."""

    __slots__ = (
        "json_schema",
        "max_tokens",
        "messages",
        "model",
        "options",
        "temperature",
        "tools",
    )

    def __init__(
        self,
        messages: list[dict[str, Any]],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.messages = messages
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.tools: list[ToolSpec] = []
        self.json_schema: dict[str, Any] | None = None
        self.options: dict[str, Any] = {}


class Reply:
    """What the model answered."""

    __slots__ = (
        "completion_tokens",
        "finish_reason",
        "model",
        "prompt_tokens",
        "text",
        "tool_calls",
    )

    def __init__(
        self,
        text: str,
        model: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        finish_reason: str | None = None,
        tool_calls: list[ToolCall] | None = None,
    ) -> None:
        self.text = text
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.finish_reason = finish_reason
        self.tool_calls: list[ToolCall] = tool_calls or []


class Backend(Protocol):
    """A provider behind one SDK client."""

    provider: str

    async def chat(self, request: ChatRequest) -> Reply:
        """One completion."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[str | Reply]:
        """Text deltas as they come, then the final ``Reply``."""
        ...

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], int]:
        """Vectors of ``texts`` and the prompt tokens used."""
        ...

    async def raw(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        """A request to ``url`` (relative to the base URL) with the profile's auth."""
        ...

    async def close(self) -> None:
        """Release the SDK client."""
        ...


def scrub(text: str, profile: Profile) -> str:
    """``text`` with the profile's key masked, in case a provider echoed it back."""
    key = profile.resolved_api_key()
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return text


def _provider_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    message = getattr(exc, "message", None)
    return str(message) if message else str(exc) or type(exc).__name__


def provider_error(exc: Exception, profile: Profile, what: str) -> LLMError:
    """An ``LLMError`` for an SDK exception: status, provider, profile, the provider's message."""
    status = getattr(exc, "status_code", None)
    message = scrub(_provider_message(exc), profile)
    hint = ""
    if status in (401, 403):
        hint = (
            " Check the API key of the profile (its API_KEY variable, the provider's usual "
            "variable, or register_llm_client(api_key=...))."
        )
    elif status == 404:
        hint = f" Check the model name ({profile.model!r}) and the base URL."
    elif status is None:
        hint = f" ({type(exc).__name__}; base URL {profile.resolved_base_url() or 'default'})"
    where = f"LLM profile {profile.name!r} ({profile.provider})"
    code = f"HTTP {status}" if status is not None else "no answer"
    return LLMError(
        f"{what} with {where} failed: {code}: {message}.{hint}",
        status=status if isinstance(status, int) else None,
        provider=profile.provider,
        profile=profile.name,
    )


async def raw_request(
    client: Any,
    method: str,
    url: str,
    *,
    json: Any,
    params: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> Any:
    """A request through a Stainless-generated SDK client (``openai``, ``anthropic``).

    The SDK adds the base URL, the auth headers and its retries; the reply is parsed JSON.
    """
    options: dict[str, Any] = {}
    if params:
        options["params"] = params
    if headers:
        options["headers"] = headers
    verb = method.lower()
    if verb == "get":
        return await client.get(url, cast_to=object, options=options)
    if verb in ("post", "put", "patch"):
        send = getattr(client, verb)
        return await send(url, cast_to=object, body=json, options=options)
    if verb == "delete":
        return await client.delete(url, cast_to=object, body=json, options=options)
    raise ValueError(f"raw() method {method!r} is not one of GET, POST, PUT, PATCH, DELETE")


class SDKBackend:
    """What the backends on Stainless-generated SDKs (``openai``, ``anthropic``) share.

    A subclass sets ``provider``, ``_profile``, ``_client`` (the SDK's async client) and
    ``_errors`` (the SDK's base error types) in its constructor.
    """

    provider: str
    _profile: Profile
    _client: Any
    _errors: tuple[type[Exception], ...]

    async def raw(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        """A request to ``url`` (relative to the base URL) with the profile's auth."""
        try:
            return await raw_request(
                self._client, method, url, json=json, params=params, headers=headers
            )
        except self._errors as exc:
            raise provider_error(exc, self._profile, f"raw {method} {url}") from exc

    async def close(self) -> None:
        """Close the SDK client's connections."""
        await self._client.close()
