"""Finished graph_fn steps written ahead of the next commit, so a crash cannot make one run twice.

A graph_fn sees a step's result only once the step survives a crash of its process. A commit
per step would cost a whole transaction; instead each finished step is appended as one JSON line
to a file of its run (``journal/<digest of run id>.<pid>.jsonl``), which the operating system
keeps when the process dies. The node rows themselves are committed as usual, and a run's files
are removed once a final record of the run is committed. Reading a run's nodes lays the lines of
its files over the rows, newest last.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from json.encoder import encode_basestring as _text
from typing import TYPE_CHECKING, Any

from aethergraph.storage.json_rows import NODE_COLUMNS, dump, from_micros, load, micros
from aethergraph.storage.records import NodeRecord, NodeStatus

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["StepLog"]


def _line(row: tuple[Any, ...]) -> str:
    """A node row as one JSON line of its ``NODE_COLUMNS`` values.

    The row holds the inputs and outputs as JSON text already: they go into the line as they are.
    Times are written as ``json_rows.micros`` gives them.
    """
    if len(row) == len(NODE_COLUMNS):
        run_id, node_id, tool, status, inputs, outputs, error, attempts, started, finished = row
    else:  # a lean row (sqlite_schema.LEAN_NULLS): no error
        run_id, node_id, tool, status, inputs, outputs, attempts, started, finished = row
        error = None
    return (
        f"[{_text(run_id)},{_text(node_id)},{_text(tool)},{_text(status)},{inputs},"
        f"{outputs or 'null'},{'null' if error is None else _text(error)},{int(attempts)},"
        f"{_time(started)},{_time(finished)}]\n"
    )


def _time(t: float | None) -> str:
    if t is None:
        return "null"
    us = micros(t)
    return str(us) if type(us) is int else dump(us)


def _name(run_id: str) -> str:
    return hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class StepLog:
    """The ahead-of-commit step files of one workspace, for the runs of this process."""

    def __init__(self, root: Path) -> None:
        self._dir = root / "journal"
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._files: dict[str, set[Path]] = {}  # the step files of a run this process knows of
        self._done: list[Path] = []

    def append(self, row: tuple[Any, ...]) -> None:
        """Write one finished step (its ``node_row``); it survives this process dying on return."""
        run_id = row[0]
        line = _line(row).encode("utf-8", "surrogatepass")
        with self._lock:
            fd = self._open.get(run_id)
            if fd is None:
                self._dir.mkdir(exist_ok=True)
                path = self._dir / f"{_name(run_id)}.{os.getpid()}.jsonl"
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._open[run_id] = fd
                self._files.setdefault(run_id, set()).add(path)
            os.write(fd, line)

    def overlay(self, run_id: str, rows: list[NodeRecord]) -> list[NodeRecord]:
        """``rows`` with the steps written ahead of their commit laid over them."""
        if not self._dir.is_dir():
            return rows
        paths = sorted(self._dir.glob(f"{_name(run_id)}.*.jsonl"), key=_mtime)
        if not paths:
            return rows
        with self._lock:
            self._files.setdefault(run_id, set()).update(paths)  # removed when the run ends
        by_id = {r.node_id: r for r in rows}
        for path in paths:
            for line in path.read_bytes().decode("utf-8", "surrogatepass").splitlines():
                try:
                    values = load(line)
                except ValueError:
                    continue  # the last line of a process that died while writing it
                values[3] = NodeStatus(values[3])
                values[8] = _from_micros(values[8])
                values[9] = _from_micros(values[9])
                by_id[values[1]] = NodeRecord(*values)
        return list(by_id.values())

    def run_ended(self, run_id: str) -> None:
        """The run's final record is about to be committed: drop its files after that."""
        if run_id not in self._files:
            return  # the common case: a run with no step written ahead (or read back)
        with self._lock:
            fd = self._open.pop(run_id, None)
            if fd is not None:
                os.close(fd)
            self._done.extend(self._files.pop(run_id, ()))

    def committed(self) -> None:
        """A commit just landed: remove the files of runs whose final record it held."""
        if not self._done:
            return
        with self._lock:
            done, self._done = self._done, []
        for path in done:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def close(self) -> None:
        """Close the open files (they stay for the runs still unfinished)."""
        with self._lock:
            for fd in self._open.values():
                os.close(fd)
            self._open.clear()


def _from_micros(v: float | None) -> float | None:
    return None if v is None else from_micros(v)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
