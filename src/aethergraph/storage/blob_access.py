"""The blob methods of ``Storage``, forwarded to the backend's ``blobs`` store.

Every backend keeps its bytes in a ``BlobStore`` of its own kind (a folder, memory, a table);
the storage object answers the blob part of the protocol by handing each call to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from aethergraph.storage.protocols import BlobStore

__all__ = ["BlobAccess"]


class BlobAccess:
    """Mixin: the blob methods of the ``Storage`` protocol, answered by ``self.blobs``."""

    if TYPE_CHECKING:

        @property
        def blobs(self) -> BlobStore:
            """The backend's blob store (each backend defines it)."""

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        return await self.blobs.put_bytes(data)

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a file's content under its sha256; ``move`` may rename the file into place."""
        return await self.blobs.put_file(path, move=move)

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        return await self.blobs.read_bytes(sha256)

    async def local_path(self, sha256: str) -> Path:
        """A local file holding the blob (where depends on the store)."""
        return await self.blobs.local_path(sha256)

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path for a writer to fill before ``put_file``."""
        return self.blobs.staging_path(suffix)
