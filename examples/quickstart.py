"""The README quickstart: a service, a tool and a graph_fn, run once.

Run it: ``python examples/quickstart.py``
"""

from aethergraph import Service, graph_fn, register_context_service, run, tool


class Greeter(Service):
    async def greet(self, name: str) -> str:
        self.ctx().logger().info("greeting", extra={"name": name})  # kept with the run
        return f"Hello, {name}!"


register_context_service("greeter", Greeter())  # now context.greeter() in every node


@tool(outputs=["shout"])
async def shout(text: str) -> str:
    return text.upper() + "!!"


@graph_fn(name="hello", outputs=["greeting", "shout"])
async def hello(name: str, *, context):
    greeting = await context.greeter().greet(name)
    loud = await shout(text=greeting)  # runs as a child node of this run
    await context.memory().record("greeting", {"name": name, "text": greeting})
    return {"greeting": greeting, "shout": loud["shout"]}


def main() -> None:
    print(run(hello, {"name": "Ada"}))


if __name__ == "__main__":
    main()
