"""Artifact bytes of runs on Ray workers, kept in a shared artifact root."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph import run_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.runtime import read_artifact_async
from tests.ray import graphs

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)


async def test_a_worker_keeps_artifact_bytes_in_the_artifact_root_of_the_caller(
    ray_cluster: Any, postgres_dsn: str, tmp_path: Path
) -> None:
    from aethergraph.core.engine.executors.ray import RayExecutor

    # A schema of its own: the database records the artifact root it is used with.
    database_url = f"{postgres_dsn}?schema=ray_root_{uuid.uuid4().hex}"
    shared = tmp_path / "shared"
    shared.mkdir()
    executor = RayExecutor(num_workers=1)
    with current_runtime().scoped() as runtime:
        runtime.configure(database_url=database_url, artifact_root=shared, executor=executor)
        try:
            outputs = await run_async(graphs.save, {"text": "made on a worker"})
        finally:
            await executor.close()
        assert outputs["pid"] != os.getpid()
        assert await read_artifact_async(outputs["id"]) == b"made on a worker"
    (blob,) = (shared / "artifacts" / "sha256").rglob("*/*")
    assert blob.read_bytes() == b"made on a worker"
