"""Blobs kept in process memory, for ``MemoryStorage``.

Blobs that must appear as local files, and staging paths, live in a private temporary folder made
on first need and removed by ``discard_files()`` (see ``blob_cache``).
"""

from __future__ import annotations

import hashlib

from aethergraph.storage.blob_cache import CachedBlobs

__all__ = ["MemoryBlobs"]


class MemoryBlobs(CachedBlobs):
    """Content-addressed bytes in a dict, named by their sha256."""

    _folder_prefix = "aethergraph-mem-"

    def __init__(self) -> None:
        super().__init__()
        self._blobs: dict[str, bytes] = {}

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        sha = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(sha, bytes(data))
        return sha

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        return self._blobs[sha256]
