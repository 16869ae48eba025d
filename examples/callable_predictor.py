"""Seed section 8: a callable service, so ``context.predictor("hello")`` forwards to ``__call__``.

``context.predictor()`` (no arguments) returns the service; ``context.predictor(...)`` with
arguments calls it. The "model" here is a tiny offline stand-in so the program runs anywhere.
Calling a service that has no ``__call__`` with arguments is a ``TypeError`` naming the service.

Run it: ``python examples/callable_predictor.py``
"""

from aethergraph import Service, graph_fn, register_context_service, run


class Predictor(Service):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def __call__(self, prompt: str) -> str:
        # convenience wrapper
        return await self.generate(prompt)

    async def generate(self, prompt: str) -> str:
        self.calls += 1
        words = prompt.split()
        return f"[echo-model] {len(words)} word(s); reversed: {' '.join(reversed(words))}"


class Catalog(Service):
    """A service without ``__call__``."""

    def names(self) -> list[str]:
        return ["resnet18", "vit-b16"]


register_context_service("predictor", Predictor())
register_context_service("catalog", Catalog())


@graph_fn(name="predict", outputs=["short", "explicit", "calls", "catalog_error"])
async def predict(prompt: str, *, context):
    short = await context.predictor(prompt)  # calls __call__
    explicit = await context.predictor().generate(prompt)  # same thing, more explicit
    catalog_error = None
    try:
        context.catalog("resnet18")
    except TypeError as exc:
        catalog_error = str(exc)
    return {
        "short": short,
        "explicit": explicit,
        "calls": context.predictor().calls,
        "catalog_error": catalog_error,
    }


def main() -> None:
    out = run(predict, {"prompt": "hello custom services"})
    print(f'context.predictor("...")          -> {out["short"]}')
    print(f"context.predictor().generate(...) -> {out['explicit']}")
    print(f"same result: {out['short'] == out['explicit']}, predictor calls: {out['calls']}")
    print(f"context.catalog(...) on a non-callable service -> TypeError: {out['catalog_error']}")


if __name__ == "__main__":
    main()
