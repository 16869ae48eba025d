"""The storage contract as a test suite: a backend passes it by subclassing ``StorageConformance``.

A subclass says how to open the backend; pytest then runs every test against it::

    class TestMyStorage(StorageConformance):
        async def make_storage(self) -> Storage:
            return MyStorage(self.workspace)

        async def make_second_storage(self) -> Storage:  # optional: the tests of sharing
            return MyStorage(self.workspace)

Test names state the behaviour they check. Needs pytest and pytest-asyncio (``asyncio_mode =
"auto"``).
"""

from __future__ import annotations

from aethergraph.storage.conformance.blobs import BlobTests
from aethergraph.storage.conformance.kv import KVTests
from aethergraph.storage.conformance.memory_events import EventTests
from aethergraph.storage.conformance.run_control import RunControlTests
from aethergraph.storage.conformance.runs import RunTests
from aethergraph.storage.conformance.sharing import SharingTests

__all__ = ["StorageConformance"]


class StorageConformance(RunTests, RunControlTests, EventTests, KVTests, BlobTests, SharingTests):
    """Every test a storage backend must pass, unchanged."""
