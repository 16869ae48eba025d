"""Building the PostgreSQL statements: inserts, upserts and ``WHERE`` clauses with ``$n`` marks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Where", "insert", "select", "upsert", "upsert_unnest"]


def select(table: str, columns: Sequence[str]) -> str:
    """A select of ``columns`` from ``table``."""
    return f"SELECT {', '.join(columns)} FROM {table}"


def insert(table: str, columns: Sequence[str]) -> str:
    """An insert of one row's ``columns``, given as ``$1`` on."""
    marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """An insert that updates the row in place when ``key`` exists, keeping its ``seq``."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return f"{insert(table, columns)} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


def upsert_unnest(
    table: str, columns: Sequence[str], types: Sequence[str], key: Sequence[str], first: int
) -> str:
    """An upsert of many rows given as one array per column, ``$first`` on, in array order.

    The arrays are of the PostgreSQL ``types``; a row's key may appear once only.
    """
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM "
        f"unnest({arrays}) WITH ORDINALITY AS t({', '.join(columns)}, n) ORDER BY n "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


class Where:
    """``WHERE`` clauses and their parameters, numbered as they are added."""

    def __init__(self) -> None:
        self.params: list[object] = []
        self._clauses: list[str] = []

    def add(self, clause: str, value: object) -> None:
        """Add ``clause``, whose ``{}`` stands for the mark of ``value``."""
        self.params.append(value)
        self._clauses.append(clause.format(f"${len(self.params)}"))

    def equal(self, **columns: object) -> None:
        """Add ``column = value`` for each column given a value other than ``None``."""
        for column, value in columns.items():
            if value is not None:
                self.add(f"{column} = {{}}", value)

    def mark(self, value: object) -> str:
        """The mark of one more parameter, for a clause after ``WHERE`` (``LIMIT``, say)."""
        self.params.append(value)
        return f"${len(self.params)}"

    def __str__(self) -> str:
        return f" WHERE {' AND '.join(self._clauses)}" if self._clauses else ""
