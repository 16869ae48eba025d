"""``ScriptedLLM``: an offline provider that answers from a script, for tests and examples.

A script item is a reply text, a dict (``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` asks
for tool calls, any other dict is answered as its JSON), or a function of the messages returning
one of those. A function given instead of a list answers every call.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from aethergraph.errors import LLMError
from aethergraph.services.llm.backend import ChatRequest, Reply, ToolCall

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

__all__ = ["ScriptedLLM"]


def _tokens(text: str) -> int:
    return len(text.split())


class ScriptedLLM:
    """A provider that replies from a script and records what it was asked.

    Attributes:
        requests: Every chat request received, in order.
        model: The model name it reports.
    """

    provider = "scripted"

    def __init__(
        self,
        script: Iterable[Any] | Callable[[list[dict[str, Any]]], Any],
        *,
        model: str = "scripted",
        embed_dim: int = 8,
    ) -> None:
        self.model = model
        self.embed_model = f"{model}-embed"
        self.embed_dim = embed_dim
        self.requests: list[ChatRequest] = []
        self._every: Callable[[list[dict[str, Any]]], Any] | None = None
        self._script: deque[Any] = deque()
        if callable(script):
            self._every = script
        else:
            self._script.extend(script)

    @property
    def prompts(self) -> list[list[dict[str, Any]]]:
        """The messages of every request, in order."""
        return [r.messages for r in self.requests]

    def _next(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        if self._every is not None:
            item = self._every(request.messages)
        elif self._script:
            item = self._script.popleft()
            if callable(item):
                item = item(request.messages)
        else:
            raise LLMError(
                f"the scripted LLM has no reply left for request {len(self.requests)} (its "
                "script had fewer replies than the code made calls); add replies to "
                "scripted_llm([...])",
                provider=self.provider,
            )
        prompt = sum(_tokens(str(m.get("content") or "")) for m in request.messages)
        if isinstance(item, dict) and "tool_calls" in item:
            calls = [
                ToolCall(c.get("id", f"call_{i}"), c["name"], dict(c.get("arguments", {})))
                for i, c in enumerate(item["tool_calls"])
            ]
            text = str(item.get("text", ""))
            return Reply(text, request.model, prompt, _tokens(text), "tool_calls", calls)
        text = item if isinstance(item, str) else json.dumps(item)
        return Reply(text, request.model, prompt, _tokens(text), "stop")

    async def chat(self, request: ChatRequest) -> Reply:
        """The next scripted reply."""
        return self._next(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Reply]:
        """The next scripted reply, word by word, then the reply itself."""
        reply = self._next(request)
        words = reply.text.split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "
        yield reply

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], int]:
        """Deterministic vectors derived from each text's hash."""
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            vectors.append([b / 255.0 for b in digest[: self.embed_dim]])
        return vectors, sum(_tokens(t) for t in texts)

    async def raw(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> Any:
        """An echo of the request."""
        return {"method": method, "url": url, "json": json, "params": params}

    async def close(self) -> None:
        """Nothing to release."""
