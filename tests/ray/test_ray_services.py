"""Custom services registered by import path reach the Ray workers, in their scope."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from aethergraph import run_async
from aethergraph.errors import ConfigurationError
from aethergraph.runtime import (
    RunStatus,
    list_runs_async,
    register_context_service,
    unregister_context_service,
)
from tests.ray import services

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.core.engine.executors.ray import RayExecutor

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tagger() -> Iterator[None]:
    register_context_service("tagger", "tests.ray.services:Tagger", scope="worker")
    yield
    unregister_context_service("tagger")


async def test_a_worker_service_is_built_once_per_worker_and_each_run_sees_its_own_context(
    on_ray: RayExecutor, tagger: None
) -> None:
    outputs = await asyncio.gather(*(run_async(services.tagged) for _ in range(60)))
    by_pid: dict[int, set[int]] = {}
    for out in outputs:
        by_pid.setdefault(out["pid"], set()).add(out["instance"])
        assert out["builds"] == 1
    assert len(by_pid) == 2
    assert all(len(instances) == 1 for instances in by_pid.values())
    runs = {r.run_id for r in await list_runs_async(graph_id="ray_tagged", limit=1000)}
    assert {out["run"] for out in outputs} <= runs
    assert len({out["run"] for out in outputs}) == 60


async def test_a_cluster_service_is_one_instance_shared_by_all_workers(
    on_ray: RayExecutor,
) -> None:
    register_context_service("counter", "tests.ray.services:Counter", scope="cluster")
    try:
        outputs = await asyncio.gather(*(run_async(services.counted) for _ in range(20)))
    finally:
        unregister_context_service("counter")
    assert sorted(o["count"] for o in outputs) == list(range(1, 21))


async def test_a_service_registered_as_an_instance_is_refused_with_the_import_path_form(
    on_ray: RayExecutor,
) -> None:
    register_context_service("tagger", services.Tagger())
    try:
        with pytest.raises(ConfigurationError, match=r"register_context_service\('tagger', '"):
            await run_async(services.tagged)
    finally:
        unregister_context_service("tagger")
    (record,) = await list_runs_async(graph_id="ray_tagged", status="failed")
    assert record.status is RunStatus.FAILED


def test_a_bad_import_path_or_scope_fails_at_registration() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot import 'tests.ray.services:Nope'"):
        register_context_service("nope", "tests.ray.services:Nope")
    with pytest.raises(ConfigurationError, match=r"scope 'node' is not one of worker, run"):
        register_context_service("nope", "tests.ray.services:Tagger", scope="node")
    with pytest.raises(ConfigurationError, match=r"a scope goes with an import path"):
        register_context_service("nope", services.Tagger(), scope="worker")
