"""The storage contract, run against PostgreSQL 15 started for the test session."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from aethergraph.storage.conformance import StorageConformance

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage


class TestPostgresStorage(StorageConformance):
    @pytest.fixture(autouse=True)
    def _server(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn
        self.schema = f"t_{uuid.uuid4().hex}"

    async def make_storage(self) -> Storage:
        from aethergraph.storage.postgres import PostgresStorage

        return await PostgresStorage.connect(self.dsn, schema=self.schema)

    async def make_second_storage(self) -> Storage:
        from aethergraph.storage.postgres import PostgresStorage

        return await PostgresStorage.connect(self.dsn, schema=self.schema)


class TestPostgresStorageWithArtifactRoot(TestPostgresStorage):
    """The same contract with blob bytes in a shared artifact folder instead of the database."""

    async def make_storage(self) -> Storage:
        from aethergraph.storage.postgres import PostgresStorage

        self.workspace.mkdir(exist_ok=True)
        return await PostgresStorage.connect(
            self.dsn, schema=self.schema, artifact_root=self.workspace
        )

    async def make_second_storage(self) -> Storage:
        from aethergraph.storage.postgres import PostgresStorage

        return await PostgresStorage.connect(
            self.dsn, schema=self.schema, artifact_root=self.workspace
        )
