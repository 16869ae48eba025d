"""``aethergraph runs list|show|resume|cancel``: the runs of a workspace, no server needed."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from aethergraph.cli.display import (
    err,
    out,
    print_json,
    show_logs,
    show_nodes,
    show_run,
    show_runs,
    show_waits,
)
from aethergraph.cli.options import (
    apply_executor,
    apply_loads,
    apply_workspace,
    executor_options,
    load_options,
    workspace_option,
)
from aethergraph.cli.run import EXIT_FAILED, EXIT_WAITING
from aethergraph.core.engine.catalog import find_graph
from aethergraph.core.engine.history import list_logs_async, list_nodes_async, list_waits_async
from aethergraph.core.engine.run import run_async
from aethergraph.core.engine.runs import cancel_run_async, get_run_async, list_runs_async
from aethergraph.errors import RunWaitingError
from aethergraph.storage.records import RunStatus

__all__ = ["runs_group"]

_LAST_LOGS = 20


@click.group("runs")
def runs_group() -> None:
    """List, inspect, resume and cancel runs."""


@runs_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]), help="Only this status.")
@click.option("--graph", "graph_id", help="Only runs of this graph.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@workspace_option
def list_command(
    status: str | None, graph_id: str | None, limit: int, as_json: bool, workspace: str | None
) -> int:
    """Runs, newest first."""
    apply_workspace(workspace)
    records = asyncio.run(list_runs_async(status=status, graph_id=graph_id, limit=limit))
    if as_json:
        print_json({"items": [r.to_json() for r in records]})
    elif records:
        show_runs(records)
    else:
        err.print("no runs")
    return 0


async def _details(run_id: str) -> dict[str, Any]:
    record = await get_run_async(run_id)
    return {
        "run": record,
        "nodes": await list_nodes_async(run_id),
        "logs": (await list_logs_async(run_id, limit=10_000))[-_LAST_LOGS:],
        "waits": await list_waits_async(run_id=run_id, status="open"),
    }


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@workspace_option
def show_command(run_id: str, as_json: bool, workspace: str | None) -> int:
    """A run's record, its nodes with timings, its last logs and open waits."""
    apply_workspace(workspace)
    details = asyncio.run(_details(run_id))
    if as_json:
        print_json(
            {
                key: value.to_json() if key == "run" else [v.to_json() for v in value]
                for key, value in details.items()
            }
        )
        return 0
    show_run(details["run"])
    failed = [n for n in details["nodes"] if n.status == "failed"]
    for node in failed:
        out.print(f"[red]failed at node {node.node_id}[/] ({node.tool}): {node.error}")
    if details["nodes"]:
        show_nodes(details["nodes"])
    if details["logs"]:
        show_logs(details["logs"])
    if details["waits"]:
        show_waits(details["waits"])
    return 0


@runs_group.command("resume")
@click.argument("run_id")
@load_options
@workspace_option
@executor_options
def resume_command(
    run_id: str,
    paths: tuple[str, ...],
    modules: tuple[str, ...],
    workspace: str | None,
    **executor_settings: Any,
) -> int:
    """Resume a failed or interrupted run from its checkpoint (load the graph's module first)."""
    apply_workspace(workspace)
    apply_executor(**executor_settings)
    apply_loads(paths, modules)

    async def resume() -> dict[str, Any]:
        record = await get_run_async(run_id)
        if record.status not in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            raise click.UsageError(
                f"run {run_id} is {record.status}; only a failed or interrupted run resumes"
            )
        graph = find_graph(record.graph_id, run_id=run_id)
        return await run_async(graph, dict(record.inputs), run_id=run_id)

    try:
        outputs = asyncio.run(resume())
    except RunWaitingError as exc:
        err.print(f"run {run_id} is waiting: {exc}", markup=False)
        return EXIT_WAITING
    except (click.ClickException, LookupError):
        raise
    except Exception as exc:  # noqa: BLE001 - the graph's own failure is exit code 1
        err.print(f"run {run_id} failed: {type(exc).__name__}: {exc}", markup=False)
        return EXIT_FAILED
    err.print(f"run {run_id} succeeded")
    print_json(outputs)
    return 0


@runs_group.command("cancel")
@click.argument("run_id")
@workspace_option
def cancel_command(run_id: str, workspace: str | None) -> int:
    """Cancel a run (a finished run keeps its status)."""
    apply_workspace(workspace)
    status = asyncio.run(cancel_run_async(run_id))
    out.print(f"run {run_id} is {status}", markup=False)
    return 0
