"""Finished graph_fn steps written ahead of the next commit, so a crash cannot make one run twice.

A graph_fn sees a step's result only once the step survives a crash of its process. A commit
per step would cost a whole transaction; instead each finished step is appended as one JSON line
(its node row) to the step file of this storage object, ``journal/steps.<pid>.<token>.<n>.jsonl``,
written through a shared memory map: the bytes are in the operating system's page cache as soon
as they are copied, so they outlive the process, and a step costs no system call. The node rows
themselves are committed as usual; in this process, reads see them held before their commit, so
only other processes (or this one after a restart) read step files: a run's nodes are its rows
with the lines of the other step files laid over them, newest last. Steps read from the file of
a process that died are stored by the reader, which hosts the run from then on.

One file serves every run of the storage object, so a run has no file of its own to create and
remove. Once the final records of every run with lines in the file are committed, the file is
emptied (or, after it grew past ``ROTATE_BYTES`` and another took over, removed); a run that ended
while others go on gets an end mark instead, after which readers ignore its lines. A commit says
which final run records it held, so nothing is dropped ahead of them. A file left by a process
that died is removed once every run in it has a final record: by whoever commits the last of
them, or when the workspace is opened.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import mmap
import os
import secrets
import threading
from json.encoder import encode_basestring as _text
from typing import TYPE_CHECKING, Any

from aethergraph.storage.json_rows import NODE_COLUMNS, dump, from_micros, load, micros
from aethergraph.storage.records import NodeRecord, NodeStatus

if TYPE_CHECKING:
    from collections.abc import Callable
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
    # Times as json_rows.micros gives them, inline: two per step.
    started = "null" if started is None else _time(micros(started))
    finished = "null" if finished is None else _time(micros(finished))
    return (
        f"[{_text(run_id)},{_text(node_id)},{_text(tool)},{_text(status)},{inputs},"
        f"{outputs or 'null'},{'null' if error is None else _text(error)},{int(attempts)},"
        f"{started},{finished}]\n"
    )


def _time(us: float) -> str:
    return str(us) if type(us) is int else dump(us)


_LIVE: set[str] = set()
"""The tokens of the step logs open in this process (a file of another token is not ours)."""

ROTATE_BYTES = 4 << 20
"""A step file past this size takes no more lines: the next go to a new file."""


class StepLog:
    """The step file of one storage object, and the files other processes left, in one folder.

    ``final_runs(run_ids)`` says which of the runs have a final record committed; it is called
    with the database's lock held (from ``committed``, or ``sweep`` through the caller).
    """

    def __init__(self, root: Path, final_runs: Callable[[list[str]], set[str]]) -> None:
        self._dir = root / "journal"
        self._final_runs = final_runs
        self._lock = threading.Lock()
        self._token = f"{os.getpid()}.{secrets.token_hex(4)}"
        _LIVE.add(self._token)
        self._numbers = itertools.count()
        self._current: _File | None = None
        self._own: list[_File] = []  # current last
        self._foreign: dict[Path, set[str]] = {}  # other processes' files: runs read from them

    def append(self, row: tuple[Any, ...]) -> None:
        """Write one finished step (its ``node_row``); it survives this process dying on return."""
        line = _line(row).encode("utf-8", "surrogatepass")
        with self._lock:
            file = self._current
            if file is None:
                file = self._start_file()
            file.runs.add(row[0])
            file.write(line)
            if file.size > ROTATE_BYTES:
                self._current = None

    def _start_file(self) -> _File:
        self._dir.mkdir(exist_ok=True)
        path = self._dir / f"steps.{self._token}.{next(self._numbers)}.jsonl"
        file = self._current = _File(path)
        self._own.append(file)
        return file

    def overlay(
        self, run_id: str, rows: list[NodeRecord]
    ) -> tuple[list[NodeRecord], list[NodeRecord]]:
        """``rows`` with the steps other processes wrote ahead of their commit laid over them.

        Also the steps laid over from files whose writer is gone: nobody else will commit them,
        so the caller stores them (the run keeps them once those files are removed).
        """
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return rows, []
        with self._lock:
            own = {f.path.name for f in self._own}
        paths = sorted(
            (self._dir / n for n in names if n.endswith(".jsonl") and n not in own), key=_mtime
        )
        if not paths:
            return rows, []
        laid = self._lines_of(run_id, paths)
        by_id = {r.node_id: r for r in rows}
        adopted = []
        for node_id, (values, gone) in laid.items():
            record = NodeRecord(*values)
            if by_id.get(node_id) != record:
                by_id[node_id] = record
                if gone:
                    adopted.append(record)
        return list(by_id.values()), adopted

    def _lines_of(self, run_id: str, paths: list[Path]) -> dict[str, tuple[list[Any], bool]]:
        """The run's latest step in ``paths`` by node id, and whether its writer is gone."""
        laid: dict[str, tuple[list[Any], bool]] = {}
        for path in paths:
            try:
                lines = _text_of(path).splitlines()
            except FileNotFoundError:
                continue  # removed meanwhile: its runs ended
            gone = _writer_gone(path.name)
            found = False
            for line in lines:
                if _run_of(line) != run_id:
                    continue
                found = True
                values = _values(line)
                if values is _END:
                    laid.clear()  # the run ended there: what came before is in the database
                elif values is not None:
                    laid[values[1]] = (values, gone)
            if found:
                with self._lock:
                    self._foreign.setdefault(path, set()).add(run_id)
        return laid

    def committed(self, ended: set[str]) -> None:
        """A commit landed, holding the final records of the runs ``ended``: drop their lines.

        A file whose runs all ended is emptied (or removed, if it is not the current one); one
        with other runs still going gets an end mark for each ended run with lines in it, which
        readers take as "this run's lines before here are in the database". Called with the
        database's lock held.
        """
        if not ended:
            return
        with self._lock:
            for file in list(self._own):
                had = file.runs & ended
                file.runs -= had
                if file.runs:
                    if had:
                        file.mark_ended(had)
                elif file is self._current:
                    if file.size:
                        file.empty()
                else:
                    self._own.remove(file)
                    file.remove()
            foreign = [p for p, runs in self._foreign.items() if not runs.isdisjoint(ended)]
        for path in foreign:
            self._remove_if_done(path)

    def sweep(self) -> None:
        """Remove the step files of processes that died whose runs all ended (lock held)."""
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".jsonl"):
                self._remove_if_done(self._dir / name)

    def _remove_if_done(self, path: Path) -> None:
        """Remove another process's step file once its writer is gone and its runs ended."""
        if not _writer_gone(path.name):
            return
        try:
            text = _text_of(path)
        except FileNotFoundError:
            runs: set[str] = set()
        else:
            runs = {r for r in map(_run_of, text.splitlines()) if r is not None}
            if runs - self._final_runs(sorted(runs)):
                return
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with self._lock:
            self._foreign.pop(path, None)

    def close(self) -> None:
        """Close the files (they stay for the runs still unfinished, or go when all ended)."""
        with self._lock:
            for file in self._own:
                if file.runs or file.size:
                    file.close()
                else:
                    file.remove()
            self._own.clear()
            self._current = None
            _LIVE.discard(self._token)


class _File:
    """One step file this log writes, and the runs with lines in it not yet ended.

    Written through a shared memory map: bytes copied into it are in the operating system's page
    cache at once, as after ``write()``, so they outlive this process, at a fraction of the cost
    of a system call. The file grows in chunks; the room not written yet reads as zero bytes,
    which JSON text never holds.
    """

    __slots__ = ("_map", "fd", "path", "runs", "size")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(self.fd, _CHUNK)
            self._map = mmap.mmap(self.fd, _CHUNK)
        except BaseException:
            os.close(self.fd)
            raise
        self.runs: set[str] = set()
        self.size = 0

    def write(self, line: bytes) -> None:
        end = self.size + len(line)
        if end > len(self._map):
            self._map.resize(-(-2 * end // _CHUNK) * _CHUNK)  # the file grows with it
        self._map[self.size : end] = line
        self.size = end

    def mark_ended(self, runs: set[str]) -> None:
        """Mark the end of runs with lines here: the lines before the mark are committed."""
        text = "".join(f"[{_text(run_id)}]\n" for run_id in sorted(runs))
        self.write(text.encode("utf-8", "surrogatepass"))

    def empty(self) -> None:
        self._map[: self.size] = bytes(self.size)
        self.size = 0

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


_CHUNK = 64 << 10


def _text_of(path: Path) -> str:
    """The lines of a step file (up to the room not written yet)."""
    return path.read_bytes().split(b"\0", 1)[0].decode("utf-8", "surrogatepass")


_END: list[Any] = []
"""What ``_values`` gives for a run's end mark."""


def _values(line: str) -> list[Any] | None:
    """The node row values of a step line; ``_END`` for a run's end mark, ``None`` if torn."""
    try:
        values = load(line)
    except ValueError:
        return None  # the last line of a process that died while writing it
    if len(values) == 1:
        return _END
    values[3] = NodeStatus(values[3])
    values[8] = _from_micros(values[8])
    values[9] = _from_micros(values[9])
    return values  # type: ignore[no-any-return]


_scan = json.JSONDecoder().raw_decode


def _run_of(line: str) -> str | None:
    """The run id a step line starts with (read without decoding the rest of the line)."""
    if not line.startswith('["'):
        return None
    try:
        run_id, _end = _scan(line, 1)
    except ValueError:
        return None
    return run_id if isinstance(run_id, str) else None


def _writer_gone(name: str) -> bool:
    """Whether the process that wrote a step file has ended (or closed the log it wrote with).

    Names are ``steps.<pid>.<token>.<n>.jsonl`` (one per log) or, from before, ``<run digest>.
    <pid>.jsonl`` (one per run).
    """
    parts = name.split(".")
    try:
        pid = int(parts[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return parts[0] != "steps" or f"{parts[1]}.{parts[2]}" not in _LIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False


def _from_micros(v: float | None) -> float | None:
    return None if v is None else from_micros(v)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
