"""Issue 9, defect 24: staging files a killed writer left behind are removed when a workspace
opens; fresh ones (a writer may still be at work) stay."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from aethergraph.runtime import list_runs
from aethergraph.storage.blob_folder import STALE_S

if TYPE_CHECKING:
    from pathlib import Path


def test_opening_a_workspace_removes_stale_staging_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    staging = folder / "tmp"
    staging.mkdir(parents=True)
    stale = staging / "left-by-a-killed-writer.blob"
    fresh = staging / "being-written.blob"
    stale.write_bytes(b"half a blob")
    fresh.write_bytes(b"still coming")
    long_ago = time.time() - STALE_S - 60
    os.utime(stale, (long_ago, long_ago))

    assert list_runs(workspace=folder) == []  # opens the workspace

    assert not stale.exists()
    assert fresh.exists()
