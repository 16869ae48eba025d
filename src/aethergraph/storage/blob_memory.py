"""Blobs kept in process memory, for ``MemoryStorage``.

Blobs that must appear as local files, and staging paths, live in a private temporary folder made
on first need and removed by ``discard_files()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import uuid
from pathlib import Path

__all__ = ["MemoryBlobs"]


class MemoryBlobs:
    """Content-addressed bytes in a dict, named by their sha256."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._tmp: Path | None = None

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        sha = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(sha, bytes(data))
        return sha

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a file's content under its sha256; ``move`` removes the file."""
        sha = await self.put_bytes(await asyncio.to_thread(Path(path).read_bytes))
        if move:
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)
        return sha

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        return self._blobs[sha256]

    async def local_path(self, sha256: str) -> Path:
        """Write the blob to the private temporary folder and return that path."""
        data = self._blobs[sha256]
        path = self._tmpdir() / "blobs" / sha256
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return path

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the private temporary folder."""
        folder = self._tmpdir() / "staging"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}{suffix}"

    def discard_files(self) -> None:
        """Remove the private temporary folder, if one was made."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _tmpdir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="aethergraph-mem-"))
        return self._tmp
