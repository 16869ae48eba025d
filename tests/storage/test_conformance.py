"""The storage contract, run against the in-memory and the SQLite backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aethergraph.storage.conformance import StorageConformance
from aethergraph.storage.memory import MemoryStorage
from aethergraph.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage


class TestMemoryStorage(StorageConformance):
    async def make_storage(self) -> Storage:
        return MemoryStorage()


class TestSQLiteStorage(StorageConformance):
    async def make_storage(self) -> Storage:
        return SQLiteStorage(self.workspace)

    async def make_second_storage(self) -> Storage:
        return SQLiteStorage(self.workspace)
