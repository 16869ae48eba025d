"""What blob stores kept away from the file system (process memory, a database) share.

Such a store holds the bytes; files exist only in a private folder made on first need: blobs that
must appear as local files are written there by ``local_path``, ``staging_path`` hands out paths
there for ``put_file`` to take in, and ``discard_files()`` removes it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

__all__ = ["CachedBlobs", "checked_digest"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def checked_digest(sha256: str) -> str:
    """``sha256`` if it is a well-formed digest, else ``ValueError``: a digest becomes a path."""
    if not isinstance(sha256, str) or not _DIGEST.fullmatch(sha256):
        raise ValueError(f"{sha256!r} is not a sha256 digest; expected 64 lowercase hex characters")
    return sha256


class CachedBlobs(ABC):
    """Content-addressed bytes held elsewhere, with local files in a private folder."""

    _folder_prefix = "aethergraph-"
    """The start of the private folder's name."""

    def __init__(self) -> None:
        self._files: Path | None = None

    @abstractmethod
    async def put_bytes(self, data: bytes) -> str:
        """Keep bytes under their sha256."""

    @abstractmethod
    async def read_bytes(self, sha256: str) -> bytes:
        """The bytes under a digest, or ``KeyError``."""

    async def put_file(self, path: Path, *, move: bool = False) -> str:
        """Keep a local file's content under its sha256; ``move`` removes the file."""
        sha = await self.put_bytes(await asyncio.to_thread(Path(path).read_bytes))
        if move:
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)
        return sha

    async def local_path(self, sha256: str) -> Path:
        """The blob written to the private folder (once), or ``KeyError``."""
        path = self._folder() / "blobs" / checked_digest(sha256)
        if not path.is_file():
            data = await self.read_bytes(sha256)
            staged = self.staging_path()
            await asyncio.to_thread(staged.write_bytes, data)
            path.parent.mkdir(exist_ok=True)
            staged.replace(path)
        return path

    def staging_path(self, suffix: str = "") -> Path:
        """A fresh path in the private folder."""
        folder = self._folder() / "staging"
        folder.mkdir(exist_ok=True)
        return folder / f"{uuid.uuid4().hex}{suffix}"

    def discard_files(self) -> None:
        """Remove the private folder, if one was made."""
        if self._files is not None:
            shutil.rmtree(self._files, ignore_errors=True)
            self._files = None

    def _folder(self) -> Path:
        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix=self._folder_prefix))
        return self._files
