"""The PostgreSQL backend (the ``postgres`` extra: ``pip install aethergraph[postgres]``)."""

from __future__ import annotations

from aethergraph.storage.postgres.storage import PostgresStorage

__all__ = ["PostgresStorage"]
