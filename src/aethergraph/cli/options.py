"""Options several commands share: the workspace, the executor, and where graphs are loaded from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from aethergraph.cli.targets import load_module, load_path
from aethergraph.core.engine.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "apply_executor",
    "apply_loads",
    "apply_workspace",
    "executor_options",
    "load_options",
    "workspace_option",
]

workspace_option = click.option(
    "--workspace",
    type=click.Path(file_okay=False),
    help="Workspace folder (default: AETHERGRAPH_WORKSPACE or ./aethergraph_data).",
)


def load_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--load-path`` and ``--load-module`` (both repeatable)."""
    command = click.option(
        "--load-module", "modules", multiple=True, help="A module defining graphs."
    )(command)
    return click.option(
        "--load-path", "paths", multiple=True, help="A Python file defining graphs."
    )(command)


def apply_workspace(workspace: str | None) -> None:
    """Point the runtime at ``workspace`` when one was given."""
    if workspace is not None:
        current_runtime().configure(workspace=workspace)


def apply_loads(paths: tuple[str, ...], modules: tuple[str, ...]) -> None:
    """Import the files and modules, which defines their graphs."""
    for path in paths:
        load_path(path)
    for module in modules:
        load_module(module)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--executor``, ``--ray-address``, ``--num-workers`` and ``--max-runs-per-worker``.

    Each has an environment variable, so that a deployment configures every command at once.
    """
    command = click.option(
        "--max-runs-per-worker",
        type=click.IntRange(min=1),
        default=8,
        show_default=True,
        envvar="AETHERGRAPH_MAX_RUNS_PER_WORKER",
        show_envvar=True,
        help="With --executor ray: runs one worker executes at once.",
    )(command)
    command = click.option(
        "--num-workers",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        envvar="AETHERGRAPH_NUM_WORKERS",
        show_envvar=True,
        help="With --executor ray: worker actors in the pool.",
    )(command)
    command = click.option(
        "--ray-address",
        envvar="AETHERGRAPH_RAY_ADDRESS",
        show_envvar=True,
        help="With --executor ray: 'auto' (the running cluster), host:port or ray://host:port; "
        "unset starts a local cluster.",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["in_process", "ray"]),
        default="in_process",
        show_default=True,
        envvar="AETHERGRAPH_EXECUTOR",
        show_envvar=True,
        help="Where runs execute: here, or on Ray workers (needs PostgreSQL: "
        "AETHERGRAPH_DATABASE_URL).",
    )(command)


def apply_executor(
    executor: str, ray_address: str | None, num_workers: int, max_runs_per_worker: int
) -> None:
    """Make runs started by this command execute where ``--executor`` says."""
    if executor == "in_process" and ray_address is None:
        return
    if executor == "in_process":
        raise click.UsageError(
            f"--ray-address {ray_address} (or AETHERGRAPH_RAY_ADDRESS) needs --executor ray "
            "(or AETHERGRAPH_EXECUTOR=ray)"
        )
    current_runtime().configure(
        executor=executor,
        ray_address=ray_address,
        num_workers=num_workers,
        max_runs_per_worker=max_runs_per_worker,
    )
