"""Seed sections 2-3A: a Trainer service, a graph_fn that submits a job, a tool that waits for it.

The Trainer is the tutorial's own class; only ``_submit_to_cluster`` and ``_query_cluster`` are
filled in, against a small in-memory fake cluster whose jobs finish a fraction of a second after
they are submitted. ``wait_for_training`` polls until the job is done (the tutorial's version
checks once). The run is recorded in the default workspace, ``./aethergraph_data`` (or
``AETHERGRAPH_WORKSPACE``), and read back at the end with ``aethergraph.runtime.list_runs``.

Run it: ``python examples/trainer_submit_and_wait.py``
"""

import asyncio
import itertools
import time

import aethergraph.runtime
from aethergraph import Service, graph_fn, register_context_service, run, tool


class FakeCluster:
    """Jobs go QUEUED -> RUNNING -> COMPLETED as time passes; nothing leaves the process."""

    def __init__(self, job_seconds: float = 0.3) -> None:
        self.job_seconds = job_seconds
        self._ids = itertools.count(1)
        self._submitted: dict[str, float] = {}

    def submit(self, spec: dict) -> str:
        job_id = f"job-{next(self._ids):04d}"
        self._submitted[job_id] = time.monotonic()
        return job_id

    def status(self, job_id: str) -> str:
        if job_id not in self._submitted:
            return "UNKNOWN"
        elapsed = time.monotonic() - self._submitted[job_id]
        if elapsed < self.job_seconds / 3:
            return "QUEUED"
        if elapsed < self.job_seconds:
            return "RUNNING"
        return "COMPLETED"


class Trainer(Service):
    def __init__(self, cluster: FakeCluster) -> None:
        super().__init__()
        self._cluster = cluster

    async def submit(self, spec: dict) -> str:
        """Submit a training job to your cluster / scheduler."""
        # 1) Inspect current run/node if you like
        ctx = self.ctx()  # NodeContext bound at call time
        ctx.logger().info("trainer.submit", extra={"spec": spec})

        # 2) Call your real backend (here: the fake cluster)
        job_id = await self._submit_to_cluster(spec)

        # 3) Optionally record to memory for later inspection
        await ctx.memory().write_result(
            topic="trainer.submit",
            outputs=[{"name": "job_id", "kind": "text", "value": job_id}],
        )
        return job_id

    async def inspect_job(self, job_id: str) -> dict:
        """Check job status from the same backend."""
        status = await self._query_cluster(job_id)
        return {"job_id": job_id, "status": status}

    async def _submit_to_cluster(self, spec: dict) -> str:
        return self._cluster.submit(spec)

    async def _query_cluster(self, job_id: str) -> str:
        return self._cluster.status(job_id)


register_context_service("trainer", Trainer(FakeCluster()))


@graph_fn(name="train_and_wait", outputs=["job_id", "done"])
async def train_and_wait(spec: dict, *, context):
    # 1) Kick off work via the custom service
    job_id = await context.trainer().submit(spec)

    # 2) Poll in a small @tool (keeps the graph explicit)
    ready = await wait_for_training(job_id=job_id, context=context)
    return {"job_id": job_id, "done": ready["ready"]}


@tool(name="wait_for_training", outputs=["ready"])
async def wait_for_training(job_id: str, *, context) -> dict:
    seen = []
    for _ in range(50):
        info = await context.trainer().inspect_job(job_id)
        if not seen or seen[-1] != info["status"]:
            seen.append(info["status"])
            print(f"  {job_id}: {info['status']}")
        if info["status"] in ("COMPLETED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    return {"ready": info["status"] == "COMPLETED"}


def main() -> None:
    print("running train_and_wait ...")
    outputs = run(train_and_wait, {"spec": {"model": "resnet18", "epochs": 10}})
    print(f"outputs: {outputs}")

    record = aethergraph.runtime.list_runs(graph_id="train_and_wait", limit=1)[0]
    print(f"run record (workspace {aethergraph.runtime.workspace()}):")
    print(f"  run_id:   {record.run_id}")
    print(f"  status:   {record.status}")
    print(f"  inputs:   {record.inputs}")
    print(f"  outputs:  {record.outputs}")
    print(f"  duration: {record.finished_at - record.started_at:.2f} s")


if __name__ == "__main__":
    main()
