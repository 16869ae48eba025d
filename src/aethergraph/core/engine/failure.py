"""How failures are reported: user exceptions pass through unchanged, with a note saying where."""

from __future__ import annotations

import asyncio

__all__ = ["annotate", "describe", "is_cancellation"]

_NOTE_PREFIX = "aethergraph: raised in run "


def annotate(exc: BaseException, run_id: str, graph_id: str, node_id: str) -> None:
    """Add one note naming the run and node where ``exc`` was raised (only the innermost one)."""
    notes = getattr(exc, "__notes__", ())
    if any(n.startswith(_NOTE_PREFIX) for n in notes):
        return
    exc.add_note(f"{_NOTE_PREFIX}{run_id} (graph {graph_id!r}), node {node_id!r}")


def describe(exc: BaseException) -> str:
    """The one-line form stored in records: ``Type: message``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` means the work was cancelled rather than failed."""
    return isinstance(exc, asyncio.CancelledError)
