"""Local OpenAI- and Anthropic-compatible HTTP servers for driving the real SDKs over loopback.

By default a chat answers ``echo: <last message>``; a test queues other answers on
``FakeProviders.script``: ``{"text": ...}``, ``{"tool_calls": [(name, args), ...]}``,
``{"status": 429}`` (answered with ``retry-after-ms: 1``) or ``{"status": 500}``. A request whose
key is not ``GOOD_KEY`` gets a 401 that echoes the key back, as some providers do.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request

GOOD_KEY = "sk-test-GOODKEY-0123456789"


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v.get("text") or v.get("content") or "") for v in value)
    return 0


def _last_text(messages: list[dict[str, Any]]) -> str:
    content = messages[-1].get("content")
    if isinstance(content, list):
        return " ".join(str(b.get("text") or b.get("content") or "") for b in content)
    return str(content)


class FakeProviders:
    """Both fake providers on one server; what they were asked is kept in ``requests``."""

    def __init__(self) -> None:
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.base = ""
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai_chat, methods=["POST"]),
                Route("/v1/embeddings", self.openai_embed, methods=["POST"]),
                Route("/v1/models", self.openai_models, methods=["GET"]),
                Route("/v1/messages", self.anthropic_messages, methods=["POST"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def openai_url(self) -> str:
        return f"{self.base}/v1"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="error", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        async def serve() -> None:
            assert self._server is not None
            task = asyncio.ensure_future(self._server.serve())
            while not self._server.started and not task.done():  # noqa: ASYNC110 - no event
                await asyncio.sleep(0.005)
            ready.set()
            await task

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        assert ready.wait(10), "fake provider server did not start"
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.headers.clear()

    # -- shared --------------------------------------------------------------------------------
    async def _take(self, request: Request, key_header: str) -> tuple[dict[str, Any], Any]:
        body = await request.json() if request.method == "POST" else {}
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        key = request.headers.get(key_header) or request.headers.get("authorization", "")
        key = key.removeprefix("Bearer ")
        if key != GOOD_KEY:
            return body, JSONResponse(
                {"error": {"message": f"Incorrect API key provided: {key}", "type": "auth"}},
                status_code=401,
            )
        step = self.script.popleft() if self.script else {}
        status = step.get("status")
        if status:
            return body, JSONResponse(
                {"error": {"message": f"scripted {status}", "type": "scripted"}},
                status_code=status,
                headers={"retry-after-ms": "1"},
            )
        return body, step

    # -- OpenAI --------------------------------------------------------------------------------
    async def openai_chat(self, request: Request) -> Response:
        body, step = await self._take(request, "authorization")
        if isinstance(step, Response):
            return step
        messages = body["messages"]
        text = step.get("text", f"echo: {_last_text(messages)}")
        prompt = sum(_words(m.get("content")) for m in messages)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": _words(text),
            "total_tokens": prompt + _words(text),
        }
        if body.get("stream"):
            return StreamingResponse(
                self._openai_chunks(body["model"], text, usage), media_type="text/event-stream"
            )
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if "tool_calls" in step:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": n, "arguments": json.dumps(a)},
                }
                for i, (n, a) in enumerate(step["tool_calls"])
            ]
            finish = "tool_calls"
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        )

    async def _openai_chunks(self, model: str, text: str, usage: dict[str, int]) -> Any:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model}
            return f"data: {json.dumps({**data, 'choices': choices, **extra})}\n\n"

        for i, word in enumerate(text.split(" ")):
            piece = word if i == 0 else " " + word
            yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        yield chunk([], usage=usage)
        yield "data: [DONE]\n\n"

    async def openai_embed(self, request: Request) -> Response:
        body, step = await self._take(request, "authorization")
        if isinstance(step, Response):
            return step
        texts = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(i), 0.5]}
            for i, t in enumerate(texts)
        ]
        tokens = sum(_words(t) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def openai_models(self, request: Request) -> Response:
        _, step = await self._take(request, "authorization")
        if isinstance(step, Response):
            return step
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    # -- Anthropic -----------------------------------------------------------------------------
    async def anthropic_messages(self, request: Request) -> Response:
        body, step = await self._take(request, "x-api-key")
        if isinstance(step, Response):
            return step
        text = step.get("text", f"echo: {_last_text(body['messages'])}")
        prompt = _words(body.get("system")) + sum(_words(m["content"]) for m in body["messages"])
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        stop = "end_turn"
        if "tool_calls" in step:
            content = [
                {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a}
                for i, (n, a) in enumerate(step["tool_calls"])
            ]
            stop = "tool_use"
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": _words(text)},
        }
        if body.get("stream"):
            return StreamingResponse(
                self._anthropic_events(message, text), media_type="text/event-stream"
            )
        return JSONResponse(message)

    async def _anthropic_events(self, message: dict[str, Any], text: str) -> Any:
        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**message["usage"], "output_tokens": 0},
        }
        yield event("message_start", {"message": start})
        yield event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        for i, word in enumerate(text.split(" ")):
            piece = word if i == 0 else " " + word
            yield event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
        yield event("content_block_stop", {"index": 0})
        yield event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": _words(text)},
            },
        )
        yield event("message_stop", {})
