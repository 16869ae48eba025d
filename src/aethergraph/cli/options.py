"""Options several commands share: the workspace, and the files and modules to load graphs from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from aethergraph.cli.targets import load_module, load_path
from aethergraph.core.engine.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["apply_loads", "apply_workspace", "load_options", "workspace_option"]

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
