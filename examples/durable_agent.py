"""Durable agents: a graph_fn killed half way resumes, and no step that finished runs again.

Run it: ``python examples/durable_agent.py``. It starts the agent in a child process that is
killed (SIGKILL) while it works on the third topic, then resumes the run here with the same
``run_id``: the first two topics are replayed from the journal, the rest run, the notification
(a service method marked as a step) is sent once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from typing import Any

from aethergraph import NodeContext, Service, graph_fn, register_context_service, run, tool

TOPICS = ["alpha", "beta", "gamma", "delta"]


@tool(outputs=["note"])
async def research(topic: str) -> dict[str, Any]:
    print(f"  researching {topic} (process {os.getpid()})", flush=True)
    if os.environ.get("DURABLE_DEMO_CRASH_AT") == topic:
        os.kill(os.getpid(), signal.SIGKILL)  # as if the machine went away mid-step
    return {"note": f"{topic}: {len(topic)} letters"}


class Notifier(Service):
    """Sends a message once per run, even across crashes: ``notify`` is a journaled step."""

    @Service.step(idempotency_key=True)
    async def notify(self, text: str, *, idempotency_key: str) -> str:
        # A real service hands idempotency_key to the external system, which drops repeats.
        print(f"  notifying ({idempotency_key}): {text}", flush=True)
        return "sent"


register_context_service("notifier", Notifier())


@graph_fn(name="durable_research")
async def research_agent(topics: list[str], *, context: NodeContext) -> dict[str, Any]:
    notes = [(await research(topic=topic))["note"] for topic in topics]
    receipt = await context.notifier().notify("; ".join(notes))
    return {"notes": notes, "receipt": receipt}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        run(research_agent, {"topics": TOPICS}, run_id=sys.argv[2])
        return
    run_id = f"research-{uuid.uuid4().hex[:8]}"
    print(f"first attempt of run {run_id}:")
    env = {**os.environ, "DURABLE_DEMO_CRASH_AT": "gamma"}
    child = subprocess.run([sys.executable, __file__, "--child", run_id], env=env, check=False)
    print(f"the first process was killed (exit {child.returncode}); resuming here:")
    outputs = run(research_agent, {"topics": TOPICS}, run_id=run_id)
    print(f"resumed: {outputs}")


if __name__ == "__main__":
    main()
