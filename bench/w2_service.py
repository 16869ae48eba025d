"""W2: ``context.<svc>().m()`` on a registered service, 10,000 calls inside one run.

Ratio: against ``await svc.m()`` on the same instance held in a local variable.
"""

from __future__ import annotations

from harness import report, timed_async

from aethergraph import Service, graph_fn, register_context_service, run_async
from aethergraph.runtime import unregister_context_service
from aethergraph.testing import memory_runtime

N = 10_000


class Counter(Service):
    def __init__(self) -> None:
        self.n = 0

    async def bump(self) -> int:
        self.n += 1
        return self.n


@graph_fn(name="w2_calls")
async def calls(*, context) -> None:  # type: ignore[no-untyped-def]
    for _ in range(N):
        await context.counter().bump()


def main() -> None:
    svc = Counter()

    async def direct() -> None:
        for _ in range(N):
            await svc.bump()

    register_context_service("counter", svc)
    try:
        raw = timed_async(direct, ops=N)
        with memory_runtime():
            via = timed_async(lambda: run_async(calls), ops=N)
    finally:
        unregister_context_service("counter")
    rows = [
        {"case": "await svc.bump() (raw)", "ns_per_call": raw * 1e9, "ratio": 1.0},
        {"case": "await context.counter().bump()", "ns_per_call": via * 1e9, "ratio": via / raw},
        {"case": "overhead of context.counter()", "ns_per_call": (via - raw) * 1e9, "ratio": 0.0},
    ]
    report("w2_service", rows)


if __name__ == "__main__":
    main()
