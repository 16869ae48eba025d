"""Blobs kept in PostgreSQL: content-addressed bytes in a table, local files only as a cache.

Nothing here needs a folder shared with other processes: ``local_path`` downloads a blob to a
private cache folder, and ``staging_path`` hands out paths there for ``put_file`` to take in.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresBlobs"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


class PostgresBlobs:
    """Content-addressed bytes in the ``blobs`` table, named by their sha256."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._cache: Path | None = None

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        sha = hashlib.sha256(data).hexdigest()
        await self._pool.execute(
            "INSERT INTO blobs (sha256, data) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            sha,
            bytes(data),
        )
        return sha

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a local file's content under its sha256; ``move`` removes the file."""
        sha = await self.put_bytes(await asyncio.to_thread(Path(path).read_bytes))
        if move:
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)
        return sha

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest, or ``KeyError``."""
        data: bytes | None = await self._pool.fetchval(
            "SELECT data FROM blobs WHERE sha256 = $1", sha256
        )
        if data is None:
            raise KeyError(sha256)
        return data

    async def local_path(self, sha256: str) -> Path:
        """The blob downloaded to the private cache folder."""
        if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):  # it becomes a path
            raise ValueError(
                f"{sha256!r} is not a sha256 digest; expected 64 lowercase hex characters"
            )
        path = self._folder() / "blobs" / sha256
        if not path.is_file():
            data = await self.read_bytes(sha256)
            staged = self.staging_path()
            await asyncio.to_thread(staged.write_bytes, data)
            path.parent.mkdir(exist_ok=True)
            staged.replace(path)
        return path

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the private cache folder."""
        folder = self._folder() / "staging"
        folder.mkdir(exist_ok=True)
        return folder / f"{uuid.uuid4().hex}{suffix}"

    def discard_files(self) -> None:
        """Remove the private cache folder, if one was made."""
        if self._cache is not None:
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None

    def _folder(self) -> Path:
        if self._cache is None:
            self._cache = Path(tempfile.mkdtemp(prefix="aethergraph-pg-"))
        return self._cache
