"""The blobs and the artifact index of the contract."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.conformance.suite import UNKNOWN_DIGEST, Suite, make_artifact

if TYPE_CHECKING:
    from pathlib import Path

    from aethergraph.storage.protocols import Storage

__all__ = ["BlobTests"]


class BlobTests(Suite):
    """Content-addressed blobs and the artifact index."""

    async def test_put_bytes_names_content_by_sha256(self, storage: Storage) -> None:
        data = b"\x00hello\xff" * 1000
        sha = await storage.put_bytes(data)
        assert sha == hashlib.sha256(data).hexdigest()
        assert await storage.put_bytes(data) == sha
        assert await storage.read_bytes(sha) == data
        assert (await storage.local_path(sha)).read_bytes() == data

    async def test_put_file_keeps_the_source_unless_moved(
        self, storage: Storage, tmp_path: Path
    ) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(b"copied")
        sha = await storage.put_file(source)
        assert source.read_bytes() == b"copied"
        assert await storage.read_bytes(sha) == b"copied"

        moved = storage.staging_path(".bin")
        moved.write_bytes(b"moved" * 100_000)
        sha = await storage.put_file(moved, move=True)
        assert not moved.exists()
        assert sha == hashlib.sha256(b"moved" * 100_000).hexdigest()
        assert await storage.read_bytes(sha) == b"moved" * 100_000

    async def test_put_file_move_of_content_already_stored_removes_the_source(
        self,
        storage: Storage,
    ) -> None:
        sha = await storage.put_bytes(b"same")
        staged = storage.staging_path()
        staged.write_bytes(b"same")
        assert await storage.put_file(staged, move=True) == sha
        assert not staged.exists()
        assert await storage.read_bytes(sha) == b"same"

    async def test_staging_path_is_fresh_each_time(self, storage: Storage) -> None:
        paths = {storage.staging_path(".txt") for _ in range(20)}
        assert len(paths) == 20
        assert all(p.suffix == ".txt" and not p.exists() and p.parent.is_dir() for p in paths)

    async def test_unknown_digest_raises_key_error(self, storage: Storage) -> None:
        with pytest.raises(KeyError):
            await storage.read_bytes(UNKNOWN_DIGEST)
        with pytest.raises(KeyError):
            await storage.local_path(UNKNOWN_DIGEST)

    async def test_get_artifact_returns_what_add_artifact_indexed(self, storage: Storage) -> None:
        artifact = make_artifact(
            1,
            name="report.csv",
            mime="text/csv",
            labels={"split": "test", "epoch": 3, "tags": ["x"]},
            metrics={"rows": 10.0},
            suggested_uri="file:///report.csv",
            pinned=True,
            run_id="r1",
            graph_id="g",
            node_id="n",
            session_id="s",
        )
        await storage.add_artifact(artifact)
        assert await storage.get_artifact("a1") == artifact
        assert await storage.get_artifact("unknown") is None

    async def test_query_artifacts_is_newest_first(self, storage: Storage) -> None:
        for n in [2, 3, 1]:
            await storage.add_artifact(make_artifact(n))
        assert [a.id for a in await storage.query_artifacts()] == ["a3", "a2", "a1"]
        assert [a.id for a in await storage.query_artifacts(limit=1)] == ["a3"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("run_id", "r2"),
            ("session_id", "s2"),
            ("graph_id", "g2"),
            ("node_id", "n2"),
            ("kind", "model"),
            ("name", "weights.bin"),
            ("pinned", True),
        ],
    )
    async def test_query_artifacts_filters_by_field(
        self, storage: Storage, field: str, value: Any
    ) -> None:
        await storage.add_artifact(make_artifact(1))
        await storage.add_artifact(make_artifact(2, **{field: value}))
        await storage.add_artifact(make_artifact(3))
        assert [a.id for a in await storage.query_artifacts(**{field: value})] == ["a2"]

    async def test_query_artifacts_labels_must_all_be_present_and_equal(
        self, storage: Storage
    ) -> None:
        await storage.add_artifact(make_artifact(1, labels={"split": "test", "epoch": 3}))
        await storage.add_artifact(make_artifact(2, labels={"split": "test"}))
        await storage.add_artifact(make_artifact(3, labels={"split": "train", "epoch": 3}))
        await storage.add_artifact(make_artifact(4, labels={"split": None, "cfg": {"lr": [0.1]}}))

        async def ids(labels: dict[str, Any]) -> list[str]:
            return [a.id for a in await storage.query_artifacts(labels=labels)]

        assert await ids({"split": "test", "epoch": 3}) == ["a1"]
        assert await ids({"split": "test"}) == ["a2", "a1"]
        assert await ids({"epoch": 3}) == ["a3", "a1"]
        assert await ids({"split": None}) == ["a4"]
        assert await ids({"cfg": {"lr": [0.1]}}) == ["a4"]
        assert await ids({"missing": None}) == []
        assert await ids({}) == ["a4", "a3", "a2", "a1"]

    async def test_query_artifacts_with_labels_and_limit_returns_the_newest_matches(
        self,
        storage: Storage,
    ) -> None:
        for n in range(10):
            await storage.add_artifact(make_artifact(n, labels={"keep": n % 3 == 0}))
        found = await storage.query_artifacts(labels={"keep": True}, limit=2)
        assert [a.id for a in found] == ["a9", "a6"]

    async def test_set_pinned_reports_whether_the_artifact_exists(self, storage: Storage) -> None:
        await storage.add_artifact(make_artifact(1))
        await storage.add_artifact(make_artifact(2))
        assert await storage.set_pinned("a1", True) is True
        assert await storage.set_pinned("unknown", True) is False
        assert [a.id for a in await storage.query_artifacts(pinned=True)] == ["a1"]
        assert [a.id for a in await storage.query_artifacts(pinned=False)] == ["a2"]
        assert await storage.set_pinned("a1", False) is True
        pinned = await storage.get_artifact("a1")
        assert pinned is not None
        assert pinned.pinned is False
