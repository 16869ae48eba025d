"""Chat with a model through ``context.llm()``: plain text, structured output, streaming.

With a key it talks to a real provider: set ``OPENAI_API_KEY`` (and optionally
``AETHERGRAPH_LLM__DEFAULT__MODEL``, default ``gpt-4o-mini``), or configure any profile::

    AETHERGRAPH_LLM__DEFAULT__PROVIDER=anthropic AETHERGRAPH_LLM__DEFAULT__MODEL=claude-sonnet-4-5
    ANTHROPIC_API_KEY=...

To use a local OpenAI-compatible server (Ollama, LM Studio, vLLM), point the profile at it::

    AETHERGRAPH_LLM__DEFAULT__PROVIDER=ollama AETHERGRAPH_LLM__DEFAULT__MODEL=llama3.2
    AETHERGRAPH_LLM__DEFAULT__BASE_URL=http://localhost:11434/v1

With none of these it answers from a scripted offline model (``aethergraph.testing.scripted_llm``),
so the program still runs. Run it: ``python examples/llm_chat.py``
"""

import contextlib
import os

from pydantic import BaseModel

from aethergraph import graph_fn, run
from aethergraph.runtime import register_llm_client
from aethergraph.testing import scripted_llm


class Capital(BaseModel):
    country: str
    city: str


@graph_fn(name="llm_chat", outputs=["answer", "capital", "streamed", "tokens"])
async def llm_chat(*, context):
    llm = context.llm()
    answer, usage = await llm.chat("In one sentence: what is a workflow runtime?")
    capital, _ = await llm.chat("What is the capital of Norway?", output_schema=Capital)
    pieces = []
    streamed, _ = await llm.chat_stream("Count from 1 to 5.", on_delta=pieces.append)
    context.logger().info("streamed in %d pieces", len(pieces))
    return {
        "answer": answer,
        "capital": capital.model_dump(),
        "streamed": streamed,
        "tokens": usage["total_tokens"],
    }


def main() -> None:
    configured = os.environ.get("AETHERGRAPH_LLM__DEFAULT__MODEL")
    if os.environ.get("OPENAI_API_KEY") and not configured:
        register_llm_client("default", provider="openai", model="gpt-4o-mini")
    offline = contextlib.nullcontext()
    if not (configured or os.environ.get("OPENAI_API_KEY")):
        print("no provider configured: answering from a scripted offline model")
        offline = scripted_llm(
            [
                "A workflow runtime runs your steps as a recorded, resumable graph.",
                {"country": "Norway", "city": "Oslo"},
                "1 2 3 4 5",
            ]
        )
    with offline:
        out = run(llm_chat)
    print(f"answer: {out['answer']}")
    print(f"capital: {out['capital']['city']} ({out['capital']['country']})")
    print(f"streamed: {out['streamed']}")
    print(f"tokens used by the first call: {out['tokens']}")


if __name__ == "__main__":
    main()
