"""``context.artifacts()`` as the published documentation writes it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from aethergraph import NodeContext, graph_fn, run
from aethergraph.errors import StorageError
from aethergraph.testing import memory_runtime


def test_save_a_file_written_to_tmp_path_with_pin_and_read_it_back_by_path(
    workspace: Path,
) -> None:
    @graph_fn(name="compat_artifacts_save")
    async def save(*, context: NodeContext) -> dict[str, Any]:
        arts = context.artifacts()
        path = await arts.tmp_path(suffix=".txt")
        await asyncio.to_thread(Path(path).write_text, "result 42", encoding="utf-8")
        art = await arts.save(
            path,
            kind="report",
            labels={"exp": "a"},
            metrics={"score": 0.5},
            suggested_uri="./out/report.txt",
            pin=True,
        )
        note = await arts.save_text("note", pin=True)
        local = arts.to_local_path(art.uri)
        return {
            "tmp": path,
            "pinned": [art.pinned, note.pinned, (await arts.get(art.id)).pinned],
            "local": await asyncio.to_thread(Path(local).read_text, encoding="utf-8"),
            "by_id": arts.to_local_path(art.id) == local,
            "file_uri": arts.to_local_path("file:///data/x.csv"),
        }

    out = run(save)
    assert Path(out.pop("tmp")).is_relative_to(workspace)
    assert out == {
        "pinned": [True, True, True],
        "local": "result 42",
        "by_id": True,
        "file_uri": "/data/x.csv",
    }


def test_to_local_path_of_an_artifact_this_node_never_saw_says_to_await_as_local_file() -> None:
    @graph_fn(name="compat_artifacts_unknown")
    async def unknown(*, context: NodeContext) -> None:
        context.artifacts().to_local_path("artifact://0123abcd")

    with pytest.raises(LookupError, match=r"await context\.artifacts\(\)\.as_local_file"):
        run(unknown)


def test_search_orders_by_metric_and_best_takes_label_filters() -> None:
    @graph_fn(name="compat_artifacts_rank")
    async def rank(*, context: NodeContext) -> dict[str, Any]:
        arts = context.artifacts()
        for score, exp in [(0.7, "a"), (0.9, "b"), (0.1, "a"), (0.5, "a")]:
            await arts.save_json(
                {"s": score}, kind="ckpt", labels={"exp": exp}, metrics={"acc": score}
            )
        await arts.save_json({}, kind="ckpt", labels={"exp": "a"})  # no metric: not ranked
        top = await arts.search(
            kind="ckpt", labels={"exp": "a"}, metric="acc", mode="max", scope="run"
        )
        low = await arts.search(kind="ckpt", metric="acc", mode="min", scope="run", limit=2)
        best = await arts.best(
            kind="ckpt", metric="acc", mode="max", scope="run", filters={"exp": "a"}
        )
        return {
            "top": [a.metrics["acc"] for a in top],
            "low": [a.metrics["acc"] for a in low],
            "best": best.metrics["acc"] if best else None,
        }

    assert run(rank) == {"top": [0.7, 0.5, 0.1], "low": [0.1, 0.5], "best": 0.7}


# -- issue 9 item 17: writer() stores bytes, never a link, and checks the digest -------------


@graph_fn(name="compat_writer_links")
async def write_through_links(target: str, hard: bool, *, context: NodeContext) -> dict[str, Any]:
    async with context.artifacts().writer(kind="data") as w:
        w.path.unlink(missing_ok=True)
        if hard:
            os.link(target, w.path)
        else:
            w.path.symlink_to(target)
    assert w.artifact is not None
    await asyncio.to_thread(Path(target).write_text, "changed!", encoding="utf-8")
    local = Path(await context.artifacts().as_local_file(w.artifact))
    return {
        "link": await asyncio.to_thread(local.is_symlink),
        "links": (await asyncio.to_thread(local.stat)).st_nlink,
        "stored": await context.artifacts().load_text(w.artifact),
    }


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
@pytest.mark.parametrize("hard", [False, True], ids=["symlink", "hardlink"])
def test_writer_stores_the_bytes_a_link_points_to_never_the_link(
    tmp_path: Path, backend: str, hard: bool
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("original", encoding="utf-8")
    inputs = {"target": str(outside), "hard": hard}
    if backend == "memory":
        with memory_runtime():
            out = run(write_through_links, inputs)
    else:
        out = run(write_through_links, inputs)
    assert out == {"link": False, "links": 1, "stored": "original"}


def test_writer_refuses_a_stored_blob_that_is_a_link(tmp_path: Path, workspace: Path) -> None:
    @graph_fn(name="compat_writer_verify")
    async def write(text: str, *, context: NodeContext) -> str:
        async with context.artifacts().writer(kind="data") as w:
            w.write(text)
        assert w.artifact is not None
        return await context.artifacts().as_local_file(w.artifact)

    blob = Path(run(write, {"text": "same bytes"})["result"])
    decoy = tmp_path / "decoy"
    decoy.write_text("same bytes", encoding="utf-8")
    blob.unlink()
    blob.symlink_to(decoy)  # a blob replaced by a link, as an older writer() could leave it
    with pytest.raises(StorageError, match="a link was stored in place of the bytes"):
        run(write, {"text": "same bytes"})
