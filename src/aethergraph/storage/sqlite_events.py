"""Run events in SQLite, kept in pages: one row holds the events of one run from one commit.

Events are the most frequent write of all (two per node), so a row each would cost an insert
each. Held events are written when their commit comes, one page per run: the page's first and
last sequence numbers and its events as one JSON array of ``[seq, ts, type, data]`` (``ts`` in
microseconds when whole: ``json_rows.micros``). A reader fetches the pages past ``after`` by the
primary key and unpacks them.

A run's first page, when small (``INLINE_MAX``), goes into the run's own row instead (columns
``events`` and ``events_last``): most runs start and end between two commits, and their row is
written then anyway, so their events cost no b-tree of their own.
"""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from aethergraph.storage.json_rows import from_micros
from aethergraph.storage.records import RunEvent
from aethergraph.storage.sqlite_rows import dump, load

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["LAST_SEQ", "PAGES_AFTER", "events_after", "write_pages"]

# Written only when no stored page reaches ``first_seq``: a taken seq is found without a read.
# Pages never overlap, so the last page by ``first_seq`` (one step down the primary key) holds
# the run's highest seq.
_LAST_PAGE = (
    "SELECT last_seq FROM run_event_pages WHERE run_id = ?1 ORDER BY first_seq DESC LIMIT 1"
)
_LAST_INLINE = "SELECT events_last FROM runs WHERE run_id = ?1"
_LAST = f"max(coalesce(({_LAST_PAGE}), 0), coalesce(({_LAST_INLINE}), 0))"
_INSERT_PAGE = (
    "INSERT INTO run_event_pages (run_id, first_seq, last_seq, events) SELECT ?1, ?2, ?3, ?4 "
    f"WHERE {_LAST} < ?2"
)
# Only a run's first page, only when no page of it is stored (pages then all come after it).
_INLINE = (
    "UPDATE runs SET events = ?4, events_last = ?3 WHERE run_id = ?1 AND ?2 = 1 AND "
    "events IS NULL AND NOT EXISTS (SELECT 1 FROM run_event_pages WHERE run_id = ?1)"
)
INLINE_MAX = 1024
"""The largest first page (in characters) kept in the run's row."""
LAST_SEQ = f"SELECT {_LAST}"
PAGES_AFTER = (
    "SELECT events FROM (SELECT 0 AS k, events FROM runs WHERE run_id = ?1 AND events_last > ?2 "
    "UNION ALL SELECT first_seq, events FROM run_event_pages WHERE run_id = ?1 AND last_seq > ?2)"
    " ORDER BY k"
)
_by_seq = itemgetter(0)

Page = list[tuple[Any, ...]]
"""A run's events as ``(seq, ts, type, data)``, ``ts`` as ``micros`` gives it."""


def write_pages(
    cur: sqlite3.Cursor,
    held: dict[str, list[Any]],
    refused: list[str],
    on_error: Callable[[Exception], None],
) -> None:
    """Write held events, one page per run; a taken or repeated ``seq`` is refused, not written.

    ``held`` gives each run's events flat: seq, ts (``micros``), type, data, seq, ... ``on_error``
    is told of each error SQLite raised (it raises if the transaction is gone).
    """
    for run_id, flat in held.items():
        values = iter(flat)
        page = list(zip(values, values, values, values, strict=False))
        page.sort(key=_by_seq)  # threads may append out of order
        kept, text = _encoded(run_id, _distinct(run_id, page, refused), refused)
        if not kept:
            continue
        try:
            page_row = (run_id, kept[0][0], kept[-1][0], text)
            inline = kept[0][0] == 1 and len(text) <= INLINE_MAX
            if inline and cur.execute(_INLINE, page_row).rowcount:
                continue
            if cur.execute(_INSERT_PAGE, page_row).rowcount:
                continue
            # Some seq is taken: keep the events past the last stored one, refuse the rest.
            last = cur.execute(LAST_SEQ, (run_id,)).fetchone()[0] or 0
            refused.extend(
                f"run event {e[0]} of run {run_id!r}: that seq is taken"
                for e in kept
                if e[0] <= last
            )
            kept, text = _encoded(run_id, [e for e in kept if e[0] > last], refused)
            if kept:
                cur.execute(_INSERT_PAGE, (run_id, kept[0][0], kept[-1][0], text))
        except sqlite3.Error as exc:
            on_error(exc)
            refused.append(f"run events {kept[0][0]}-{kept[-1][0]} of run {run_id!r}: {exc}")


def _distinct(run_id: str, page: Page, refused: list[str]) -> Page:
    """``page`` without repeated sequence numbers (the first one held is kept)."""
    kept: Page = []
    last = None
    for event in page:
        if event[0] == last:
            refused.append(f"run event {last} of run {run_id!r}: that seq is taken")
        else:
            kept.append(event)
            last = event[0]
    return kept


def _encoded(run_id: str, events: Page, refused: list[str]) -> tuple[Page, str]:
    """The events that are JSON and their page text; the others are refused."""
    try:
        return events, dump(events)
    except (TypeError, ValueError, RecursionError):
        pass
    good = []
    for e in events:
        try:
            dump(e[3])
        except (TypeError, ValueError, RecursionError) as exc:
            refused.append(f"run event {e[0]} of run {run_id!r}: {exc}")
        else:
            good.append(e)
    return good, dump(good)


def events_after(run_id: str, pages: Iterable[Any], after: int, limit: int) -> list[RunEvent]:
    """The events of ``pages`` (rows of ``PAGES_AFTER``) past ``after``, at most ``limit``."""
    found: list[RunEvent] = []
    for (text,) in pages:
        for seq, ts, type_, data in load(text):
            if seq > after:
                if len(found) >= limit:
                    return found
                found.append(RunEvent(run_id, seq, from_micros(ts), type_, data))
    return found
