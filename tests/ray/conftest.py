"""One local Ray cluster for the session (2 CPUs, no dashboard, loopback only), on PostgreSQL.

The cluster also offers one unit of a custom resource, ``trainer``, for placed tools to ask for.

Without Ray the tests here skip, saying so, except under CI=true, where that fails: CI installs
``aethergraph[ray]``.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.core.engine.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]

# Read by Ray when it is imported: every Ray process listens and talks on 127.0.0.1 (a test checks
# it), and no token-auth notice or usage report.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``ray``, connected to a local cluster started for the session."""
    if importlib.util.find_spec("ray") is None:
        missing = "Ray is not installed: pip install -e '.[ray]' to run the Ray executor tests"
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    import ray

    ray.init(
        num_cpus=2,
        resources={"trainer": 1},
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=str(tmp_path_factory.mktemp("ray")),
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_database_url(postgres_dsn: str) -> str:
    """The schema every Ray test and worker of the session shares."""
    return f"{postgres_dsn}?schema=ray_{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def ray_executor(ray_cluster: Any, ray_database_url: str) -> Any:
    """One RayExecutor with 2 workers for the session (workers are made on first use)."""
    from aethergraph.core.engine.executors.ray import RayExecutor

    return RayExecutor(num_workers=2, max_runs_per_worker=8)


@pytest.fixture
def on_ray(ray_executor: Any, ray_database_url: str) -> Iterator[Any]:
    """Runs of this test go to the Ray workers, with the session's PostgreSQL schema."""
    with current_runtime().scoped() as runtime:
        runtime.configure(database_url=ray_database_url, executor=ray_executor)
        yield ray_executor
