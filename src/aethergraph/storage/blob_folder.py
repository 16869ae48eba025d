"""A content-addressed blob folder: each blob a file named by its sha256, staged before it appears.

Layout under a workspace folder::

    artifacts/sha256/ab/ab...  blobs, named by their sha256 (first two hex digits, then all 64)
    tmp/                       staging files, renamed into place when complete

A blob is written to ``tmp``, synced, then renamed into place: a reader never sees half a blob.
A process killed while writing leaves its staging file behind; files in ``tmp`` untouched for
``STALE_S`` seconds are removed when the workspace is opened.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from aethergraph.storage.blob_cache import checked_digest

__all__ = ["STALE_S", "BlobFolder"]

STALE_S = 6 * 3600.0
"""Seconds after its last write that a staging file counts as left behind by a dead writer."""

_CHUNK = 1 << 20


class BlobFolder:
    """The blobs of one workspace folder, kept by their sha256 digest."""

    def __init__(self, root: Path) -> None:
        self._blobs = root / "artifacts" / "sha256"
        self._tmp = root / "tmp"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(exist_ok=True)
        _remove_stale(self._tmp)

    def _blob_path(self, sha256: str) -> Path:
        # The digest becomes a path: only a well-formed one may, so it cannot leave the folder.
        checked_digest(sha256)
        return self._blobs / sha256[:2] / sha256

    def _publish(self, staged: Path, sha256: str) -> None:
        """Rename a complete staged file into place as the blob ``sha256``."""
        final = self._blob_path(sha256)
        final.parent.mkdir(exist_ok=True)
        os.replace(staged, final)

    def _stage(self, source: BinaryIO) -> str:
        """Copy ``source`` to a staging file, fsync it and publish it under its digest."""
        staged = self.staging_path(".blob")
        digest = hashlib.sha256()
        try:
            with open(staged, "xb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            self._publish(staged, sha)
        finally:
            staged.unlink(missing_ok=True)
        return sha

    def _put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self._blob_path(sha).exists():
            self._stage(io.BytesIO(data))
        return sha

    def _put_file(self, path: Path, move: bool) -> str:
        with open(path, "rb") as src:
            if not move:
                return self._stage(src)
            sha = hashlib.file_digest(src, "sha256").hexdigest()
            if os.name == "posix":  # Windows cannot fsync a read-only handle.
                os.fsync(src.fileno())
        final = self._blob_path(sha)
        if final.exists():
            if path.resolve() != final.resolve():  # moving a blob onto itself must keep it
                path.unlink()
            return sha
        try:
            self._publish(path, sha)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with open(path, "rb") as src:  # another filesystem: copy, then remove the source
                self._stage(src)
            path.unlink()
        return sha

    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""
        return await asyncio.to_thread(self._put_bytes, bytes(data))

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a file's content under its sha256; ``move`` renames the file into place."""
        return await asyncio.to_thread(self._put_file, Path(path), move)

    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest."""
        path = self._blob_path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise KeyError(sha256) from None

    async def local_path(self, sha256: str) -> Path:
        """The blob's own file in the workspace."""
        path = self._blob_path(sha256)
        if not path.is_file():
            raise KeyError(sha256)
        return path

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the workspace's ``tmp`` folder."""
        self._tmp.mkdir(exist_ok=True)
        return self._tmp / f"{uuid.uuid4().hex}{suffix}"


def _remove_stale(folder: Path) -> None:
    """Remove the staging files in ``folder`` nobody has written to for ``STALE_S`` seconds."""
    cutoff = time.time() - STALE_S
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:  # another process removed or published it first
                continue
