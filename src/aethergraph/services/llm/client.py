"""``LLMClient``: what ``context.llm(profile)`` returns; one interface over every provider.

Each call to the provider is recorded with the run as an ``llm_call`` event of the node making it:
profile, provider, model, tokens, latency, finish reason and, unless
``AETHERGRAPH_LLM__CAPTURE=off``, the messages and the reply.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import TYPE_CHECKING, Any

from aethergraph.errors import ConfigurationError, LLMError
from aethergraph.services.llm.backend import ChatRequest, Reply
from aethergraph.services.llm.profiles import env_prefix
from aethergraph.services.llm.structured import OutputSchema
from aethergraph.services.llm.tools import call_tool, tool_specs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Sequence

    from aethergraph.core.engine.context import NodeContext
    from aethergraph.core.engine.tool import Tool
    from aethergraph.services.llm.service import Endpoint, LLMService

__all__ = ["LLMClient", "usage_totals"]

DEFAULT_MAX_TOOL_ROUNDS = 8


def _messages(messages: str | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = list(messages)
    for i, message in enumerate(out):
        if not isinstance(message, dict) or "role" not in message:
            raise TypeError(
                f"llm messages[{i}] is {message!r}; each message is a dict with 'role' and "
                "'content' (or pass a plain string for one user message)"
            )
    return out


def _capture() -> bool:
    return os.environ.get("AETHERGRAPH_LLM__CAPTURE", "on").strip().lower() not in (
        "off",
        "0",
        "false",
        "no",
    )


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class _Usage:
    """Token usage summed over the provider calls of one ``chat``."""

    __slots__ = ("completion", "model", "prompt", "started")

    def __init__(self, model: str) -> None:
        self.model = model
        self.prompt = 0
        self.completion = 0
        self.started = time.perf_counter()

    def add(self, reply: Reply) -> None:
        self.prompt += reply.prompt_tokens
        self.completion += reply.completion_tokens
        self.model = reply.model or self.model

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "model": self.model,
            "latency_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


class LLMClient:
    """Chat, stream, embed and raw requests through one profile."""

    __slots__ = ("_ctx", "_service", "profile")

    def __init__(self, service: LLMService, ctx: NodeContext | None, profile: str) -> None:
        self._service = service
        self._ctx = ctx
        self.profile = profile

    def __repr__(self) -> str:
        return f"<LLMClient profile={self.profile!r}>"

    def _record(
        self,
        kind: str,
        endpoint: Endpoint,
        started: float,
        *,
        request: ChatRequest | None = None,
        reply: Reply | None = None,
        error: BaseException | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        data: dict[str, Any] = {
            "node_id": ctx.node_id,
            "kind": kind,
            "profile": endpoint.profile,
            "provider": endpoint.provider,
            "model": (reply.model if reply else None) or (request.model if request else None),
            "prompt_tokens": reply.prompt_tokens if reply else 0,
            "completion_tokens": reply.completion_tokens if reply else 0,
            "total_tokens": (reply.prompt_tokens + reply.completion_tokens) if reply else 0,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "finish_reason": reply.finish_reason if reply else None,
        }
        if reply is not None and reply.tool_calls:
            data["tool_calls"] = [c.name for c in reply.tool_calls]
        if extra:
            data.update(extra)
        if error is not None:
            data["error"] = f"{type(error).__name__}: {error}"
        if _capture() and request is not None:
            data["messages"] = _json_safe(request.messages)
            data["reply"] = reply.text if reply else None
        run: Any = ctx._run
        run.publish("llm_call", data)

    async def _call(self, endpoint: Endpoint, request: ChatRequest, kind: str = "chat") -> Reply:
        started = time.perf_counter()
        try:
            reply = await endpoint.backend.chat(request)
        except LLMError as err:
            self._record(kind, endpoint, started, request=request, error=err)
            raise
        self._record(kind, endpoint, started, request=request, reply=reply)
        return reply

    async def chat(
        self,
        messages: str | Sequence[dict[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        output_schema: Any = None,
        tools: Sequence[Tool[..., Any]] | None = None,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        **provider_opts: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Ask the model; ``(text, usage)``, or ``(obj, usage)`` with ``output_schema``.

        In a graph_fn the reply is a journaled step: a run resumed after a crash gets it back
        instead of asking again. See ``_chat`` for the arguments.
        """

        async def ask() -> tuple[Any, dict[str, Any]]:
            return await self._chat(
                messages,
                model=model,
                temperature=temperature,
                max_tokens=max_tokens,
                output_schema=output_schema,
                tools=tools,
                max_tool_rounds=max_tool_rounds,
                **provider_opts,
            )

        run = getattr(self._ctx, "_run", None)
        if run is None or self._ctx is None:
            return await ask()
        schema = OutputSchema(output_schema) if output_schema is not None else None

        async def step() -> list[Any]:
            reply, usage = await ask()
            if schema is not None and schema.model is not None:
                reply = reply.model_dump(mode="json")
            return [reply, usage]

        reply, usage = await run.run_step(self._ctx.node_id, "llm_chat", step)
        if schema is not None and schema.model is not None:
            reply = schema.model.model_validate(reply)
        return reply, usage

    async def _chat(
        self,
        messages: str | Sequence[dict[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        output_schema: Any = None,
        tools: Sequence[Tool[..., Any]] | None = None,
        max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
        **provider_opts: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Ask the model; ``(text, usage)``, or ``(obj, usage)`` with ``output_schema``.

        Args:
            messages: ``{"role", "content"}`` dicts, or a plain string (one user message).
            model: Overrides the profile's model.
            temperature: Sampling temperature.
            max_tokens: The most tokens to generate.
            output_schema: A pydantic model class or a JSON schema dict the reply must match;
                a reply that does not is retried once with the validation error.
            tools: ``@tool`` functions the model may call; each call runs as a child node and
                its result goes back to the model, until it answers.
            max_tool_rounds: The most rounds of tool calls before giving up.
            **provider_opts: Passed to the provider's SDK as they are.

        Returns:
            The reply (text, or the validated object) and the usage: ``prompt_tokens``,
            ``completion_tokens``, ``total_tokens``, ``model``, ``latency_ms``.

        Raises:
            LLMError: the provider failed, the reply never matched ``output_schema``, or the
                model was still calling tools after ``max_tool_rounds`` rounds.
        """
        endpoint = self._service.endpoint(self.profile)
        request = ChatRequest(_messages(messages), model or endpoint.model, temperature, max_tokens)
        request.options = provider_opts
        schema = OutputSchema(output_schema) if output_schema is not None else None
        if schema is not None:
            request.json_schema = schema.json_schema
        by_name: dict[str, Tool[..., Any]] = {}
        if tools:
            request.tools, by_name = await tool_specs(tools)
        usage = _Usage(request.model)
        reply = await self._answer(endpoint, request, usage, by_name, max_tool_rounds)
        if schema is None:
            return reply.text, usage.as_dict()
        try:
            return schema.parse(reply.text), usage.as_dict()
        except ValueError as first:
            request.messages += [
                {"role": "assistant", "content": reply.text},
                {
                    "role": "user",
                    "content": "Your reply does not match the required JSON schema: "
                    f"{first}\nReply again with only JSON that matches the schema.",
                },
            ]
        reply = await self._answer(endpoint, request, usage, by_name, max_tool_rounds)
        try:
            return schema.parse(reply.text), usage.as_dict()
        except ValueError as second:
            raise LLMError(
                f"LLM profile {self.profile!r} ({endpoint.provider}) replied twice with output "
                f"that does not match output_schema: {second}. Last reply: {reply.text[:500]!r}",
                provider=endpoint.provider,
                profile=self.profile,
            ) from None

    async def _answer(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        usage: _Usage,
        tools: dict[str, Tool[..., Any]],
        max_rounds: int,
    ) -> Reply:
        """Call the model, running the tools it asks for, until it answers."""
        for _ in range(max_rounds + 1):
            reply = await self._call(endpoint, request)
            usage.add(reply)
            if not reply.tool_calls:
                return reply
            request.messages.append(
                {
                    "role": "assistant",
                    "content": reply.text or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in reply.tool_calls
                    ],
                }
            )
            for call in reply.tool_calls:
                content = await call_tool(call, tools)
                request.messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": content}
                )
        raise LLMError(
            f"LLM profile {self.profile!r} was still calling tools after max_tool_rounds="
            f"{max_rounds} rounds; raise max_tool_rounds or make the task smaller",
            provider=endpoint.provider,
            profile=self.profile,
        )

    async def _stream(
        self, messages: str | Sequence[dict[str, Any]], opts: dict[str, Any]
    ) -> AsyncIterator[str | Reply]:
        for unsupported in ("tools", "output_schema"):
            if unsupported in opts:
                raise TypeError(
                    f"streaming does not take {unsupported}=; use chat(..., {unsupported}=...)"
                )
        endpoint = self._service.endpoint(self.profile)
        model = opts.pop("model", None)
        request = ChatRequest(
            _messages(messages),
            model or endpoint.model,
            opts.pop("temperature", None),
            opts.pop("max_tokens", None),
        )
        request.options = opts
        started = time.perf_counter()
        try:
            async for item in endpoint.backend.stream(request):
                if isinstance(item, Reply):
                    self._record("stream", endpoint, started, request=request, reply=item)
                yield item
        except LLMError as err:
            self._record("stream", endpoint, started, request=request, error=err)
            raise

    async def stream(
        self, messages: str | Sequence[dict[str, Any]], **opts: Any
    ) -> AsyncIterator[str]:
        """Text deltas as the model produces them: ``async for delta in llm.stream(...)``.

        Takes the options of ``chat`` except ``output_schema`` and ``tools``.
        """
        async for item in self._stream(messages, opts):
            if isinstance(item, str):
                yield item

    async def chat_stream(
        self,
        messages: str | Sequence[dict[str, Any]],
        *,
        on_delta: Callable[[str], Any] | None = None,
        **opts: Any,
    ) -> tuple[str, dict[str, Any]]:
        """Stream the reply, each delta to ``on_delta`` (sync or async); ``(text, usage)``."""
        usage = _Usage(str(opts.get("model") or ""))
        text: str | None = None
        async for item in self._stream(messages, opts):
            if isinstance(item, Reply):
                usage.add(item)
                text = item.text
            elif on_delta is not None:
                result = on_delta(item)
                if inspect.isawaitable(result):
                    await result
        if text is None:  # a backend always ends with its Reply
            raise LLMError(f"LLM profile {self.profile!r}: the stream ended without a reply")
        return text, usage.as_dict()

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """One vector per text, in order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not a str; use embed([text])")
        endpoint = self._service.endpoint(self.profile)
        chosen = model or endpoint.embed_model
        if chosen is None:
            raise ConfigurationError(
                f"LLM profile {self.profile!r} has no embedding model: pass model=, set "
                f"{env_prefix(self.profile)}EMBED_MODEL, or register_llm_client(..., embed_model=)"
            )
        started = time.perf_counter()
        try:
            vectors, tokens = await endpoint.backend.embed(list(texts), chosen)
        except LLMError as err:
            self._record("embed", endpoint, started, error=err, extra={"model": chosen})
            raise
        reply = Reply("", chosen, prompt_tokens=tokens)
        self._record("embed", endpoint, started, reply=reply, extra={"texts": len(vectors)})
        return vectors

    async def raw(
        self,
        *,
        method: str = "POST",
        path: str | None = None,
        url: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A request to the profile's base URL (``path``) or ``url``, with its auth; parsed JSON."""
        if (path is None) == (url is None):
            raise TypeError("raw() takes exactly one of path= (under the base URL) or url=")
        endpoint = self._service.endpoint(self.profile)
        target = url if url is not None else str(path)
        started = time.perf_counter()
        extra = {"method": method.upper(), "path": target}
        try:
            result = await endpoint.backend.raw(
                method, target, json=json, params=params, headers=headers
            )
        except LLMError as err:
            self._record("raw", endpoint, started, error=err, extra=extra)
            raise
        self._record("raw", endpoint, started, extra=extra)
        return result


def usage_totals(events: Iterable[Any]) -> dict[str, int]:
    """Token totals of a run from its events (records with ``type`` and ``data``).

    Returns:
        ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` and ``calls`` summed over
        the run's ``llm_call`` events.
    """
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0}
    for event in events:
        if event.type != "llm_call":
            continue
        data = event.data
        totals["calls"] += 1
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            totals[key] += int(data.get(key) or 0)
    return totals
