"""``aethergraph reply RUN_ID --text ... | --choice ...``: answer a run's open wait."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from aethergraph.cli.display import err, out
from aethergraph.cli.options import (
    apply_executor,
    apply_loads,
    apply_workspace,
    executor_options,
    load_options,
    workspace_option,
)
from aethergraph.cli.run import EXIT_FAILED, EXIT_WAITING
from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.runs import get_run_async, reply_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.waits import reply_payload
from aethergraph.errors import RunWaitingError
from aethergraph.storage.records import RunStatus

__all__ = ["reply_command"]


async def _check(run_id: str, text: str | None, choice: str | None) -> None:
    """Refuse, as a usage error, a run with no open wait or an answer that does not fit it."""
    record = await get_run_async(run_id)
    waits = await list_waits_async(run_id=run_id, status="open")
    if not waits:
        raise click.UsageError(f"run {run_id} ({record.status}) has no open wait to reply to")
    try:
        reply_payload(waits[0], text, choice)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@click.command("reply")
@click.argument("run_id")
@click.option("--text", help="A free-text answer.")
@click.option("--choice", help="One of the wait's options (label or number from 1).")
@load_options
@workspace_option
@executor_options
def reply_command(
    run_id: str,
    text: str | None,
    choice: str | None,
    paths: tuple[str, ...],
    modules: tuple[str, ...],
    workspace: str | None,
    **executor_settings: Any,
) -> int:
    """Answer the open wait of RUN_ID; a run with no live process resumes here.

    A run another live process hosts (or holds, under the Ray executor) goes on there.

    To resume here, the graph must be defined: pass its file or module with --load-path or
    --load-module.
    """
    if (text is None) == (choice is None):
        raise click.UsageError("give exactly one of --text and --choice")
    apply_workspace(workspace)
    apply_executor(**executor_settings)
    apply_loads(paths, modules)
    asyncio.run(_check(run_id, text, choice))
    try:
        record = asyncio.run(reply_async(run_id, text=text, choice=choice))
    except RunWaitingError as exc:
        err.print(f"run {run_id} is waiting again: {exc}", markup=False)
        return EXIT_WAITING
    except Exception as exc:  # noqa: BLE001 - the resumed graph's own failure is exit code 1
        err.print(f"run {run_id} failed: {type(exc).__name__}: {exc}", markup=False)
        return EXIT_FAILED
    if record.status in (RunStatus.WAITING, RunStatus.RUNNING) and record.owner not in (
        None,
        current_runtime().owner_id,
    ):
        # Stored for the process that hosts the run (or holds it for Ray): it goes on there.
        out.print(f"run {run_id} was answered; it goes on in {record.owner}", markup=False)
        return 0
    out.print(f"run {run_id} is {record.status}", markup=False)
    if record.status is RunStatus.FAILED:
        return EXIT_FAILED
    return EXIT_WAITING if record.status is RunStatus.WAITING else 0
