"""How the CLI shows things: rich tables on a terminal, plain JSON with ``--json``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from aethergraph.storage.records import LogEntry, NodeRecord, RunRecord, WaitRecord

__all__ = [
    "err",
    "out",
    "print_json",
    "show_logs",
    "show_nodes",
    "show_run",
    "show_runs",
    "show_waits",
]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "running": "cyan",
    "waiting": "yellow",
    "cancelled": "magenta",
    "interrupted": "magenta",
    "skipped": "dim",
    "pending": "dim",
}


def print_json(value: Any) -> None:
    """One JSON document on standard output, for scripts."""
    out.print_json(json.dumps(value, default=str), highlight=False)


def _status(status: str) -> str:
    style = _STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = end - start
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def show_runs(records: list[RunRecord]) -> None:
    """A table of runs, newest first."""
    table = Table(title=None, header_style="bold")
    for column in ("run id", "graph", "status", "started", "duration"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.run_id,
            r.graph_id,
            _status(r.status),
            _when(r.created_at),
            _duration(r.started_at, r.finished_at),
        )
    out.print(table)


def show_run(record: RunRecord) -> None:
    """A run's record as aligned fields."""
    fields = [
        ("run", record.run_id),
        ("graph", f"{record.graph_id} ({record.kind})"),
        ("status", _status(record.status)),
        ("started", _when(record.started_at or record.created_at)),
        ("duration", _duration(record.started_at, record.finished_at)),
        ("session", record.session_id or "-"),
        ("parent", record.parent_run_id or "-"),
        ("inputs", json.dumps(record.inputs, default=str)),
        ("outputs", json.dumps(record.outputs, default=str) if record.outputs is not None else "-"),
    ]
    if record.error:
        fields.append(("error", f"[red]{record.error}[/]"))
    for name, value in fields:
        out.print(f"[bold]{name:>9}[/]  {value}")


def show_nodes(nodes: list[NodeRecord]) -> None:
    """A table of nodes with their timings and errors."""
    table = Table(title="nodes", title_justify="left", header_style="bold")
    for column in ("node", "tool", "status", "attempts", "duration", "error"):
        table.add_column(column)
    for n in nodes:
        table.add_row(
            n.node_id,
            n.tool,
            _status(n.status),
            str(n.attempts),
            _duration(n.started_at, n.finished_at),
            n.error or "",
        )
    out.print(table)


def show_logs(logs: list[LogEntry]) -> None:
    """The last log lines of a run."""
    out.print("[bold]last logs[/]")
    for entry in logs:
        node = f" [{entry.node_id}]" if entry.node_id else ""
        out.print(f"  {_when(entry.ts)} {entry.level:<7}{node} {entry.message}", markup=False)


def show_waits(waits: list[WaitRecord]) -> None:
    """Open waits and how to answer them."""
    out.print("[bold]open waits[/]")
    for w in waits:
        options = f"  options: {', '.join(w.options)}" if w.options else ""
        out.print(f"  {w.wait_id}: {w.prompt!r}{options}", markup=False)
        flag = "--choice" if w.options else "--text"
        out.print(f"  answer with: aethergraph reply {w.run_id} {flag} ...", markup=False)
