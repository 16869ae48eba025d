"""``aethergraph run TARGET --inputs JSON``: run a graph here and print its outputs.

Exit codes: 0 succeeded, 1 failed, 3 left waiting for an answer (``aethergraph reply`` resumes it).
A task graph shows a progress bar of nodes done out of total, fed by the run's event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from aethergraph.cli.display import err, out, print_json
from aethergraph.cli.options import (
    apply_executor,
    apply_workspace,
    executor_options,
    workspace_option,
)
from aethergraph.cli.targets import load_target, parse_inputs
from aethergraph.core.engine.events import watch_run
from aethergraph.core.engine.options import new_run_id
from aethergraph.core.engine.run import execution_of, run_async
from aethergraph.core.graph.spec import TaskGraph
from aethergraph.errors import RunWaitingError

__all__ = ["EXIT_FAILED", "EXIT_WAITING", "run_command"]

EXIT_FAILED = 1
EXIT_WAITING = 3
_DRAIN_S = 1.0
_FINISHED_NODE = frozenset({"succeeded", "failed", "skipped", "cancelled"})


async def _progress(run_id: str, graph: TaskGraph) -> None:
    """A bar of nodes finished out of the graph's total, until the run ends."""
    done: set[str] = set()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(graph.name, total=len(graph.nodes))
        async for event in watch_run(run_id):
            if event.type == "node" and event.data.get("status") in _FINISHED_NODE:
                done.add(str(event.data.get("node_id")))
                bar.update(task, completed=len(done))


async def _execute(target: Any, inputs: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(target, TaskGraph) or not err.is_terminal:
        return await run_async(target, inputs, **options)
    watcher = asyncio.ensure_future(_progress(options["run_id"], target))
    try:
        outputs = await run_async(target, inputs, **options)
        # Let the bar take in the run's last events (it ends at the final one).
        await asyncio.wait({watcher}, timeout=_DRAIN_S)
        return outputs
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


@click.command("run")
@click.argument("target")
@click.option("--inputs", "inputs_text", metavar="JSON|@FILE", help="Inputs as a JSON object.")
@click.option("--run-id", help="Run id (re-running a finished id returns its outputs).")
@click.option("--session-id", help="Session the run belongs to (scopes its memory).")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@executor_options
def run_command(
    target: str,
    inputs_text: str | None,
    run_id: str | None,
    session_id: str | None,
    workspace: str | None,
    as_json: bool,
    **executor_settings: Any,
) -> int:
    """Run TARGET (FILE.py:GRAPH or module:GRAPH) and print its outputs."""
    apply_workspace(workspace)
    apply_executor(**executor_settings)
    graph = load_target(target)
    inputs = parse_inputs(inputs_text)
    options: dict[str, Any] = {"run_id": run_id or new_run_id()}
    if session_id is not None:
        options["session_id"] = session_id
    if inputs or run_id is None:  # bad inputs are a usage error (exit code 2)
        execution_of(graph).check_inputs(inputs)
    # With --json, standard output carries only the JSON document; prompts go to stderr.
    prompts = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    try:
        with prompts:
            outputs = asyncio.run(_execute(graph, inputs, options))
    except RunWaitingError as exc:
        _report(as_json, options["run_id"], "waiting", error=str(exc))
        return EXIT_WAITING
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of the user's graph is exit code 1
        _report(as_json, options["run_id"], "failed", error=f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    _report(as_json, options["run_id"], "succeeded", outputs=outputs)
    return 0


def _report(
    as_json: bool,
    run_id: str,
    status: str,
    *,
    outputs: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    if as_json:
        print_json({"run_id": run_id, "status": status, "outputs": outputs, "error": error})
        return
    if status == "succeeded":
        err.print(f"run {run_id} [green]succeeded[/]")
        print_json(outputs or {})
    elif status == "waiting":
        err.print(f"run {run_id} [yellow]is waiting[/] for an answer: {escape(error or '')}")
        err.print(f"answer it with: aethergraph reply {run_id} --text ... (or --choice ...)")
    else:
        err.print(f"run {run_id} [red]failed[/]: {escape(error or '')}")
        out.print(f"see: aethergraph runs show {run_id}", markup=False)
