"""A tool-calling agent: the model calls ``@tool`` functions, each run as a child node of the run.

``chat(tools=[...])`` sends the tools' JSON schemas (from their signatures and docstrings) to
the model, runs every call it makes as a node of this run, hands the results back, and repeats
until the model answers. Configure a real model as in ``examples/llm_chat.py``; with none, a
scripted offline model plays the model's part.

Run it: ``python examples/agent_with_tools.py``
"""

import contextlib
import json
import os

from aethergraph import graph_fn, run, tool
from aethergraph.runtime import list_nodes
from aethergraph.testing import scripted_llm

PRICES = {"apple": 0.5, "bread": 2.25, "milk": 1.2}


@tool(outputs=["price"])
def unit_price(item: str) -> float:
    """The price of one unit of an item in the shop.

    Args:
        item: The item's name, e.g. "apple".
    """
    return PRICES[item]


@tool(outputs=["total"])
def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return round(a * b, 2)


@graph_fn(name="shop_agent", outputs=["answer", "run_id"])
async def shop_agent(question: str, *, context):
    answer, usage = await context.llm().chat(
        [
            {"role": "system", "content": "Answer with the tools; never guess a price."},
            {"role": "user", "content": question},
        ],
        tools=[unit_price, multiply],
    )
    context.logger().info("tokens: %s", usage["total_tokens"])
    return {"answer": answer, "run_id": context.run_id}


def scripted_model():
    """What a model would do: look the price up, multiply, then answer from the results."""
    return scripted_llm(
        [
            {"tool_calls": [{"name": "unit_price", "arguments": {"item": "bread"}}]},
            {"tool_calls": [{"name": "multiply", "arguments": {"a": 2.25, "b": 3}}]},
            lambda messages: (
                f"3 loaves of bread cost {json.loads(messages[-1]['content'])['total']}."
            ),
        ]
    )


def main() -> None:
    live = os.environ.get("OPENAI_API_KEY") or os.environ.get("AETHERGRAPH_LLM__DEFAULT__MODEL")
    if not live:
        print("no provider configured: a scripted offline model plays the model")
    with contextlib.nullcontext() if live else scripted_model():
        out = run(shop_agent, {"question": "How much do 3 loaves of bread cost?"})
    print(f"answer: {out['answer']}")
    # The model's reply is a journaled step (llm_chat_1); the tools it called are nodes inside it.
    nodes = [n.node_id for n in list_nodes(out["run_id"]) if n.node_id.startswith("llm_chat_1.")]
    print(f"tool calls ran as child nodes: {nodes}")


if __name__ == "__main__":
    main()
