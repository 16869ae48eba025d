"""Seed section 6: swap a service for a fake in tests, by registering it again or overriding it.

``SlurmTrainer`` stands for the real service: it would talk to a cluster, which a unit test must
not do (here it just raises). The tests swap it two ways:

* ``register_context_service("trainer", FakeTrainer())`` replaces it process-wide (the tutorial's
  way; undo it by registering the real one again);
* ``override_context_service("trainer", fake)`` replaces it only inside a ``with`` block, for the
  current task and the runs it starts, and restores it on exit.

Runs are kept in memory (``aethergraph.testing.memory_runtime()``), not in the workspace.

Run it directly (``python examples/fake_swap_in_test.py``) or with pytest
(``pytest examples/fake_swap_in_test.py``).
"""

from aethergraph import Service, graph_fn, register_context_service, run, tool
from aethergraph.testing import memory_runtime, override_context_service


class SlurmTrainer(Service):
    """The real trainer: submits to a Slurm cluster (unreachable from a unit test)."""

    async def submit(self, spec: dict) -> str:
        raise ConnectionError("sbatch: cannot reach the Slurm controller")

    async def inspect_job(self, job_id: str) -> dict:
        raise ConnectionError("squeue: cannot reach the Slurm controller")


class FakeTrainer(Service):
    async def submit(self, spec: dict) -> str:
        return "job-test-123"

    async def inspect_job(self, job_id: str) -> dict:
        return {"job_id": job_id, "status": "COMPLETED"}


class FailingTrainer(FakeTrainer):
    """A fake whose jobs fail, to test the unhappy path."""

    async def inspect_job(self, job_id: str) -> dict:
        return {"job_id": job_id, "status": "FAILED"}


@graph_fn(name="train_and_wait", outputs=["job_id", "done"])
async def train_and_wait(spec: dict, *, context):
    job_id = await context.trainer().submit(spec)
    ready = await wait_for_training(job_id=job_id, context=context)
    return {"job_id": job_id, "done": ready["ready"]}


@tool(name="wait_for_training", outputs=["ready"])
async def wait_for_training(job_id: str, *, context) -> dict:
    info = await context.trainer().inspect_job(job_id)
    return {"ready": info["status"] == "COMPLETED"}


# Application start-up registers the real service.
register_context_service("trainer", SlurmTrainer())


def test_registering_a_fake_replaces_the_real_trainer():
    # In your test setup
    register_context_service("trainer", FakeTrainer())
    try:
        with memory_runtime():
            out = run(train_and_wait, {"spec": {"epochs": 1}})
        assert out == {"job_id": "job-test-123", "done": True}
        print(f"  registered FakeTrainer    -> {out}")
    finally:
        register_context_service("trainer", SlurmTrainer())


def test_an_override_lasts_for_the_with_block():
    with memory_runtime():
        with override_context_service("trainer", FailingTrainer()):
            out = run(train_and_wait, {"spec": {"epochs": 1}})
        assert out == {"job_id": "job-test-123", "done": False}
        print(f"  override FailingTrainer   -> {out}")

        try:
            run(train_and_wait, {"spec": {"epochs": 1}})
        except ConnectionError as exc:
            print(f"  after the block, real one -> ConnectionError: {exc}")
        else:
            raise AssertionError("the override leaked out of its with block")


def main() -> None:
    print("swapping the trainer service:")
    test_registering_a_fake_replaces_the_real_trainer()
    test_an_override_lasts_for_the_with_block()
    print("all checks passed")


if __name__ == "__main__":
    main()
