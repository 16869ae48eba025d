"""Where the PostgreSQL backend keeps blob bytes: in a table, or in a shared artifact folder.

By default the bytes are rows of the ``blobs`` table, so nothing needs a folder shared with other
processes: ``local_path`` downloads a blob to a private cache folder, and ``staging_path`` hands
out paths there for ``put_file`` to take in (see ``blob_cache``).

With an artifact root (``AETHERGRAPH_ARTIFACT_ROOT``, a filesystem every worker mounts), the bytes
go to a content-addressed folder there instead (``BlobFolder``: ``artifacts/sha256/ab/ab...`` and
``tmp/`` for staging), and the database holds only the artifact index. Large artifacts then never
pass through the database, and ``local_path`` is the blob's own file. Blobs the database kept
before the root was set stay readable: a blob missing from the folder is looked up in the table
(and copied into the folder when it must appear as a file).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from aethergraph.errors import ConfigurationError
from aethergraph.storage.blob_cache import CachedBlobs
from aethergraph.storage.blob_folder import BlobFolder

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

__all__ = ["ArtifactRootBlobs", "PostgresBlobs", "open_artifact_root"]

_SETTING = "AETHERGRAPH_ARTIFACT_ROOT (or configure(artifact_root=...))"


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


class ArtifactRootBlobs:
    """Blobs written to the artifact root's folder, read from there or else from the table."""

    def __init__(self, folder: BlobFolder, table: PostgresBlobs) -> None:
        self._folder = folder
        self._table = table

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256, in the folder."""
        return await self._folder.put_bytes(data)

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a file's content under its sha256, in the folder."""
        return await self._folder.put_file(path, move=move)

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest, from the folder or else the table; or ``KeyError``."""
        try:
            return await self._folder.read_bytes(sha256)
        except KeyError:
            return await self._table.read_bytes(sha256)

    async def local_path(self, sha256: str) -> Path:
        """The blob's file in the folder (copied there first from the table if need be)."""
        try:
            return await self._folder.local_path(sha256)
        except KeyError:
            await self._folder.put_bytes(await self._table.read_bytes(sha256))
            return await self._folder.local_path(sha256)

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the folder's ``tmp``, for ``put_file`` to take in."""
        return self._folder.staging_path(suffix)

    def discard_files(self) -> None:
        """Remove the table's private cache folder (the shared folder stays)."""
        self._table.discard_files()


def open_artifact_root(root: Path) -> BlobFolder:
    """The blob folder under the shared artifact root ``root``; ``ConfigurationError`` if unusable.

    The root itself must exist: a missing one is most often a shared filesystem that is not
    mounted on this machine, and a folder made here in its place would hold blobs no other worker
    sees. The folders inside it are made as needed, and a probe file checks it can be written.
    """
    if not root.is_absolute():
        raise ConfigurationError(
            f"the artifact root {str(root)!r} is a relative path; give {_SETTING} as an absolute "
            "path, the same on every worker"
        )
    if not root.exists():
        raise ConfigurationError(
            f"the artifact root {str(root)!r} does not exist; create it on a filesystem every "
            f"worker mounts at that path, or point {_SETTING} at one"
        )
    if not root.is_dir():
        raise ConfigurationError(
            f"the artifact root {str(root)!r} is not a folder; point {_SETTING} at a folder on a "
            "filesystem every worker mounts"
        )
    try:
        blobs = BlobFolder(root)
        probe = blobs.staging_path(".probe")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"the artifact root {str(root)!r} cannot be written ({exc.strerror or exc}); give this "
            f"process write access to it, or point {_SETTING} at a folder it can write"
        ) from exc
    return blobs
