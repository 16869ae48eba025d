"""Seed section 4B: run blocking, CPU-heavy code off the event loop with ``run_blocking``.

``Heavy.compute`` hands ``_slow_cpu_fn`` to a worker thread. Inside that thread ``self.ctx()``
still names the node that made the call (context variables travel with ``run_blocking``), so two
tool nodes computing at the same time each see their own node id. A heartbeat task keeps ticking
on the event loop while the threads work, which shows the loop stays responsive.

Run it: ``python examples/blocking_compute.py``
"""

import asyncio
import threading

from aethergraph import Service, graph_fn, register_context_service, run, tool


class Heavy(Service):
    async def compute(self, x: int) -> int:
        # Offload CPU-heavy work to a background thread
        return await self.run_blocking(self._slow_cpu_fn, x)

    def _slow_cpu_fn(self, x: int) -> int:
        ctx = self.ctx()  # works in the worker thread too
        thread = threading.current_thread().name
        print(f"  ctx() in thread {thread!r}: run_id={ctx.run_id} node_id={ctx.node_id}")
        ctx.logger().info("heavy.compute", extra={"x": x, "thread": thread})
        return sum(i * i % 7 for i in range(x))  # pure Python CPU work


register_context_service("heavy", Heavy())


@tool(outputs=["value"])
async def crunch(x: int, *, context) -> int:
    return await context.heavy().compute(x)


@graph_fn(name="blocking_compute", outputs=["values", "heartbeats", "loop_thread"])
async def blocking_compute(sizes: list, *, context):
    beats = 0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal beats
        while not done.is_set():
            await asyncio.sleep(0.01)
            beats += 1

    async with asyncio.TaskGroup() as group:
        group.create_task(heartbeat())
        try:
            results = await asyncio.gather(*(crunch(x=n) for n in sizes))
        finally:
            done.set()
    return {
        "values": [r["value"] for r in results],
        "heartbeats": beats,
        "loop_thread": threading.current_thread().name,
    }


def main() -> None:
    out = run(blocking_compute, {"sizes": [1_500_000, 1_000_000]})
    print(f"values: {out['values']}")
    print(f"event loop ran in {out['loop_thread']!r}, ticked {out['heartbeats']} times meanwhile")


if __name__ == "__main__":
    main()
