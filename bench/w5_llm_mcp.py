"""W5: the cost of ``context.llm().chat`` and ``context.mcp(name).call`` over the raw SDKs.

Both sides run in the same run, interleaved in rounds, against the same local servers:

- LLM: ``await client.chat.completions.create(...)`` on an ``openai.AsyncOpenAI`` against a local
  OpenAI-compatible server (a separate process), versus ``context.llm().chat(...)`` on a profile
  pointing at the same server (which records an ``llm_call`` event per call).
- MCP: ``await session.call_tool(...)`` on the very ``ClientSession`` the service holds, versus
  ``context.mcp("bench").call(...)`` (which records an ``mcp_call`` event per call).

Target: at most 5 % or 150 us per call.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from harness import report

CALLS = 1000


# -- the servers (run in their own processes) --------------------------------------------------


def serve_llm() -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def chat(request: Any) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))

    async def main() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.005)
        print(server.servers[0].sockets[0].getsockname()[1], flush=True)
        await task

    asyncio.run(main())


def serve_mcp() -> None:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench", log_level="ERROR")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    server.run()


# -- the measurement ---------------------------------------------------------------------------


async def rounds(raw: Any, ours: Any) -> tuple[float, float]:
    """Median seconds per call of each side, calls alternating one by one (after a warm-up).

    Alternating call by call, and taking medians, lets drift in the server's speed (and other
    work on the machine) fall on both sides alike.
    """
    raw_times: list[float] = []
    our_times: list[float] = []
    for fn in (raw, ours):
        for _ in range(50):
            await fn()
    clock = time.perf_counter
    for _ in range(CALLS):
        for fn, times in ((raw, raw_times), (ours, our_times)):
            start = clock()
            await fn()
            times.append(clock() - start)
    return statistics.median(raw_times), statistics.median(our_times)


def row(case: str, raw: float, ours: float) -> list[dict[str, Any]]:
    return [
        {"case": f"{case} raw SDK", "us_per_call": raw * 1e6, "ratio": 1.0},
        {"case": f"{case} via context", "us_per_call": ours * 1e6, "ratio": ours / raw},
        {"case": f"{case} overhead", "us_per_call": (ours - raw) * 1e6, "ratio": ours / raw - 1},
    ]


def main() -> None:
    import openai

    from aethergraph import graph_fn, run_async
    from aethergraph.services.llm import llm_service, register_llm_client
    from aethergraph.services.mcp import mcp_service, register_mcp_client
    from aethergraph.testing import memory_runtime

    llm_proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-llm"], stdout=subprocess.PIPE, text=True
    )
    assert llm_proc.stdout is not None
    base_url = f"http://127.0.0.1:{llm_proc.stdout.readline().strip()}/v1"
    register_llm_client("default", provider="openai", model="m", base_url=base_url, api_key="k")
    register_mcp_client("bench", command=[sys.executable, __file__, "--serve-mcp"])
    messages = [{"role": "user", "content": "hi"}]
    figures: dict[str, tuple[float, float]] = {}

    @graph_fn(name="w5_llm_mcp")
    async def measure(*, context: Any) -> None:
        llm = context.llm()
        mcp = context.mcp("bench")
        client = openai.AsyncOpenAI(base_url=base_url, api_key="k")

        async def raw_chat() -> None:
            await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]

        async def our_chat() -> None:
            await llm.chat(messages)

        figures["llm"] = await rounds(raw_chat, our_chat)
        await client.close()
        session = await mcp_service.connection("bench").get()

        async def raw_call() -> None:
            await session.call_tool("add", {"a": 1, "b": 2})

        async def our_call() -> None:
            await mcp.call("add", {"a": 1, "b": 2})

        figures["mcp"] = await rounds(raw_call, our_call)

    async def whole() -> None:
        try:
            await run_async(measure)
        finally:
            await llm_service.close()
            await mcp_service.close()

    try:
        with memory_runtime():
            asyncio.run(whole())
    finally:
        llm_proc.terminate()
        llm_proc.wait(10)
        llm_proc.stdout.close()
    rows = row("llm().chat", *figures["llm"]) + row("mcp(name).call", *figures["mcp"])
    report("w5_llm_mcp", rows)
    print(json.dumps({k: [round(x * 1e6, 1) for x in v] for k, v in figures.items()}))


if __name__ == "__main__":
    if "--serve-llm" in sys.argv:
        serve_llm()
    elif "--serve-mcp" in sys.argv:
        serve_mcp()
    else:
        main()
