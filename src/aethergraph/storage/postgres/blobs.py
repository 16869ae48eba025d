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

The database records the root it is used with (``agree_on_root``): a process naming another
folder is refused, and one naming none uses the recorded root when it can reach it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from aethergraph.errors import ConfigurationError
from aethergraph.storage.blob_cache import CachedBlobs
from aethergraph.storage.blob_folder import BlobFolder

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "ROOT_MARKER",
    "ArtifactRootBlobs",
    "PostgresBlobs",
    "agree_on_root",
    "open_artifact_root",
    "root_id",
]

logger = logging.getLogger(__name__)

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


ROOT_MARKER = ".aethergraph-root"
"""The file in an artifact root that names it: an id made by the first process that used it."""

_RECORD_ROOT = (
    "INSERT INTO artifact_root (id, path, since) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
)
_RECORDED_ROOT = "SELECT id, path FROM artifact_root"


def root_id(root: Path) -> str:
    """The id in the artifact root's marker file, which is made (once, whole) if missing."""
    marker = root / ROOT_MARKER
    if not marker.exists():
        staged = root / f"{ROOT_MARKER}.{uuid.uuid4().hex}"
        staged.write_text(uuid.uuid4().hex)
        try:
            os.link(staged, marker)  # in place whole, or not at all when another process won
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return marker.read_text().strip()


async def agree_on_root(
    pool: asyncpg.Pool, root: Path | None, location: str
) -> tuple[Path, BlobFolder] | None:
    """The artifact root this process keeps blob bytes in, with its folder; ``None``: the table.

    The database records the first root used with it (its marker id and path). A root given
    here must be that same folder, wherever it is mounted: another one is refused, as its blobs
    would be invisible to the other processes. A process that gives none uses the recorded root
    when it is reachable at its recorded path, and the table otherwise (with a warning: blobs
    kept in the root cannot be read here).
    """
    if root is not None:
        folder = await asyncio.to_thread(open_artifact_root, root)
        mine = await asyncio.to_thread(root_id, root)
        await pool.execute(_RECORD_ROOT, mine, str(root), time.time())
    recorded = await pool.fetchrow(_RECORDED_ROOT)
    if recorded is None:
        return None
    if root is not None:
        if recorded["id"] != mine:
            raise ConfigurationError(
                f"the artifact root {str(root)!r} is not the folder the database at {location} "
                f"keeps artifact bytes in: that one was first used at {recorded['path']!r} "
                f"(its {ROOT_MARKER} file says {recorded['id']}, this folder's says {mine}). "
                f"Point {_SETTING} at where that folder is mounted on this machine"
            )
        return root, folder
    path = Path(recorded["path"])
    try:
        folder = await asyncio.to_thread(open_artifact_root, path)
        if await asyncio.to_thread(root_id, path) != recorded["id"]:
            raise ConfigurationError(f"{path} holds another artifact root")
    except ConfigurationError as exc:
        logger.warning(
            "the database at %s keeps artifact bytes under the artifact root %r, which cannot "
            "be used here (%s): artifacts kept there cannot be read by this process; set %s to "
            "where that folder is mounted",
            location,
            str(path),
            exc,
            _SETTING,
            extra={"artifact_root": str(path)},
        )
        return None
    return path, folder
