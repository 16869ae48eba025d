"""Blobs kept in PostgreSQL: content-addressed bytes in a table, local files only as a cache.

Nothing here needs a folder shared with other processes: ``local_path`` downloads a blob to a
private cache folder, and ``staging_path`` hands out paths there for ``put_file`` to take in
(see ``blob_cache``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from aethergraph.storage.blob_cache import CachedBlobs

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresBlobs"]


class PostgresBlobs(CachedBlobs):
    """Content-addressed bytes in the ``blobs`` table, named by their sha256."""

    _folder_prefix = "aethergraph-pg-"

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__()
        self._pool = pool

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        sha = hashlib.sha256(data).hexdigest()
        await self._pool.execute(
            "INSERT INTO blobs (sha256, data) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            sha,
            bytes(data),
        )
        return sha

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest, or ``KeyError``."""
        data: bytes | None = await self._pool.fetchval(
            "SELECT data FROM blobs WHERE sha256 = $1", sha256
        )
        if data is None:
            raise KeyError(sha256)
        return data
