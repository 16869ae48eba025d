"""Artifacts: content-addressed saves with an index; no caller string becomes a filesystem path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.services.artifacts import Artifacts, ArtifactWriter
from aethergraph.storage.records import Artifact
from tests.services.conftest import Scope

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage


@pytest.fixture
def artifacts(store: Storage, scope: Scope) -> Artifacts:
    return Artifacts(scope, store)


class PlotError(Exception):
    def __init__(self, writer: ArtifactWriter) -> None:
        super().__init__("plot failed")
        self.writer = writer


def tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


# -- saving and loading ------------------------------------------------------------------


async def test_save_text_indexes_content_and_provenance(artifacts: Artifacts) -> None:
    art = await artifacts.save_text("héllo", name="greeting", labels={"lang": "fr"})
    assert len(art.id) == 32
    assert art.uri == f"artifact://{art.id}"
    assert art.kind == "text"
    assert art.mime == "text/plain"
    assert art.size == len("héllo".encode())
    assert len(art.sha256) == 64
    assert (art.run_id, art.graph_id, art.node_id, art.session_id) == (
        "run-1",
        "graph-1",
        "node-1",
        None,
    )
    assert await artifacts.load_text(art) == "héllo"
    assert await artifacts.get(art.id) == art


async def test_save_json_round_trips(artifacts: Artifacts) -> None:
    art = await artifacts.save_json({"a": [1, 2, {"b": None}]}, metrics={"score": 3})
    assert art.kind == "json"
    assert art.mime == "application/json"
    assert art.metrics == {"score": 3.0}
    assert await artifacts.load_json(art.uri) == {"a": [1, 2, {"b": None}]}


async def test_save_json_rejects_values_that_are_not_json(artifacts: Artifacts) -> None:
    with pytest.raises(TypeError, match="must be JSON"):
        await artifacts.save_json({"s": {1}})


async def test_save_bytes_and_load_bytes(artifacts: Artifacts) -> None:
    art = await artifacts.save_bytes(b"\x00\x01binary", kind="blob")
    assert art.kind == "blob"
    assert art.mime == "application/octet-stream"
    assert await artifacts.load_bytes(art.id) == b"\x00\x01binary"


async def test_equal_content_shares_one_digest(artifacts: Artifacts) -> None:
    a = await artifacts.save_text("same")
    b = await artifacts.save_bytes(b"same")
    assert a.sha256 == b.sha256
    assert a.id != b.id


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda a: a.save_text(b"bytes"), TypeError),
        (lambda a: a.save_bytes("text"), TypeError),
        (lambda a: a.save_text("x", kind=""), ValueError),
        (lambda a: a.save_text("x", kind=None), TypeError),
        (lambda a: a.save_text("x", name=3), TypeError),
        (lambda a: a.save_text("x", suggested_uri=3), TypeError),
        (lambda a: a.save_text("x", labels=["a"]), TypeError),
        (lambda a: a.save_text("x", labels={1: "a"}), TypeError),
        (lambda a: a.save_text("x", labels={"s": {1}}), TypeError),
        (lambda a: a.save_text("x", metrics={"acc": "high"}), TypeError),
        (lambda a: a.save_text("x", metrics={"acc": float("nan")}), ValueError),
    ],
)
async def test_save_rejects_bad_arguments_and_indexes_nothing(
    artifacts: Artifacts, call: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(artifacts)
    assert await artifacts.list(scope="all") == []


async def test_bad_metric_error_names_the_key(artifacts: Artifacts) -> None:
    with pytest.raises(TypeError, match="'acc'"):
        await artifacts.save_text("x", metrics={"acc": "high"})


async def test_save_file_copies_and_leaves_the_file(artifacts: Artifacts, tmp_path: Path) -> None:
    source = tmp_path / "report.csv"
    source.write_text("a,b\n1,2\n")
    art = await artifacts.save_file(source)
    assert art.name == "report.csv"
    assert art.kind == "file"
    assert art.mime == "text/csv"
    assert art.size == 8
    assert source.read_text() == "a,b\n1,2\n"
    assert await artifacts.load_text(art) == "a,b\n1,2\n"


async def test_save_file_takes_name_and_mime(artifacts: Artifacts, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"x")
    art = await artifacts.save_file(str(source), name="model", mime="application/x-model")
    assert (art.name, art.mime) == ("model", "application/x-model")


async def test_save_file_of_a_missing_file_names_the_path(
    artifacts: Artifacts, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        await artifacts.save_file(missing)
    assert await artifacts.list() == []


async def test_save_file_of_a_folder_fails(artifacts: Artifacts, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        await artifacts.save_file(tmp_path)


async def test_as_local_file_holds_the_content(artifacts: Artifacts) -> None:
    art = await artifacts.save_bytes(b"local")
    path = Path(await artifacts.as_local_file(art.uri))
    assert await asyncio.to_thread(path.read_bytes) == b"local"


# -- references --------------------------------------------------------------------------


async def test_get_accepts_artifact_id_and_uri(artifacts: Artifacts) -> None:
    art = await artifacts.save_text("x")
    assert await artifacts.get(art) == art
    assert await artifacts.get(art.id) == art
    assert await artifacts.get(art.uri) == art


@pytest.mark.parametrize("ref", ["0" * 32, "artifact://" + "f" * 32, "unknown-id"])
async def test_unknown_reference_raises_key_error_naming_it(artifacts: Artifacts, ref: str) -> None:
    for load in (artifacts.get, artifacts.load_bytes, artifacts.as_local_file, artifacts.pin):
        with pytest.raises(KeyError, match=ref.removeprefix("artifact://")):
            await load(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "artifact://../x",
        "artifact://a/b",
        "../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "http://example.com/a",
        "artifact://",
        "",
        "a\\b",
        "..",
    ],
)
async def test_malformed_reference_raises_value_error(artifacts: Artifacts, ref: str) -> None:
    for load in (artifacts.get, artifacts.load_bytes, artifacts.as_local_file, artifacts.pin):
        with pytest.raises(ValueError, match="artifact"):
            await load(ref)


async def test_reference_of_the_wrong_type_raises_type_error(artifacts: Artifacts) -> None:
    with pytest.raises(TypeError, match="reference"):
        await artifacts.get(42)  # type: ignore[arg-type]


async def test_a_forged_artifact_is_resolved_through_the_index(artifacts: Artifacts) -> None:
    real = await artifacts.save_text("real")
    forged = Artifact(
        id=real.id,
        uri=real.uri,
        sha256="../../etc/passwd",
        size=1,
        kind="text",
        created_at=0.0,
    )
    assert await artifacts.load_text(forged) == "real"


# -- nothing outside the store -----------------------------------------------------------


async def test_caller_strings_never_create_or_read_files_outside_the_store(
    store: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd" / "deep"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    before = {p for p in tree(tmp_path) if "workspace" not in p.parts}
    artifacts = Artifacts(Scope(), store)
    hostile = ["../../etc/passwd", "../../../escape.txt", str(tmp_path / "abs.txt"), "/tmp/x"]
    for text in hostile:
        art = await artifacts.save_text("x", name=text, suggested_uri=text)
        assert (art.name, art.suggested_uri) == (text, text)
        async with artifacts.writer(name=text) as w:
            w.write("y")
    for ref in [str(secret), "artifact://" + str(secret), "artifact://../secret.txt"]:
        with pytest.raises(ValueError, match="artifact"):
            await artifacts.load_bytes(ref)
    after = {p for p in tree(tmp_path) if "workspace" not in p.parts}
    assert after == before
    assert not (tmp_path / "abs.txt").exists()
    assert not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.parametrize("suffix", ["/../../x", "../x", ".png/..", "x", ".a b", "." + "p" * 40])
async def test_writer_rejects_a_suffix_that_is_not_an_extension(
    artifacts: Artifacts, suffix: str
) -> None:
    with pytest.raises(ValueError, match="suffix"):
        async with artifacts.writer(suffix=suffix):
            pass


# -- writer ------------------------------------------------------------------------------


async def test_writer_stores_what_the_caller_wrote_to_the_path(artifacts: Artifacts) -> None:
    async with artifacts.writer(kind="plot", suffix=".png", labels={"fig": 1}) as w:
        assert w.path.name.endswith(".png")
        w.path.write_bytes(b"\x89PNG fake")
    assert w.artifact is not None
    assert (w.artifact.kind, w.artifact.mime, w.artifact.size) == ("plot", "image/png", 9)
    assert w.artifact.labels == {"fig": 1}
    assert await artifacts.load_bytes(w.artifact) == b"\x89PNG fake"
    assert not w.path.exists()


async def test_writer_write_appends_bytes_and_text(artifacts: Artifacts) -> None:
    async with artifacts.writer(name="log.txt") as w:
        w.write("line 1\n")
        w.write(b"line 2\n")
    assert w.artifact is not None
    assert w.artifact.name == "log.txt"
    assert w.artifact.kind == "file"
    assert await artifacts.load_text(w.artifact) == "line 1\nline 2\n"


async def test_writer_write_rejects_other_types(artifacts: Artifacts) -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        async with artifacts.writer() as w:
            w.write(3)  # type: ignore[arg-type]
    assert await artifacts.list() == []


async def test_writer_failure_indexes_nothing_and_removes_the_file(artifacts: Artifacts) -> None:
    async def fail_while_writing() -> ArtifactWriter:
        async with artifacts.writer(suffix=".png") as w:
            w.write(b"partial")
            raise PlotError(w)

    with pytest.raises(PlotError) as info:
        await fail_while_writing()
    w = info.value.writer
    assert w.artifact is None
    assert not w.path.exists()
    assert await artifacts.list() == []


async def test_writer_with_nothing_written_fails_clearly(artifacts: Artifacts) -> None:
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        async with artifacts.writer():
            pass
    assert await artifacts.list() == []


# -- finding -----------------------------------------------------------------------------


async def populate(store: Storage) -> dict[str, Artifact]:
    """One artifact per scope relation to Scope(session_id="s")."""
    here = Scope(session_id="s")
    made = {
        "here": Artifacts(here, store),
        "other_node": Artifacts(Scope(node_id="node-2", session_id="s"), store),
        "same_session": Artifacts(Scope(run_id="run-2", session_id="s"), store),
        "same_graph": Artifacts(Scope(run_id="run-3", node_id="node-1"), store),
        "elsewhere": Artifacts(Scope(run_id="run-4", graph_id="graph-2"), store),
    }
    return {key: await a.save_text(key, kind="note") for key, a in made.items()}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("node", {"here"}),
        ("run", {"here", "other_node"}),
        ("session", {"here", "other_node", "same_session"}),
        ("graph", {"here", "other_node", "same_session", "same_graph"}),
        ("all", {"here", "other_node", "same_session", "same_graph", "elsewhere"}),
    ],
)
async def test_list_scopes(store: Storage, scope: Any, expected: set[str]) -> None:
    made = await populate(store)
    names = {v.id: k for k, v in made.items()}
    found = await Artifacts(Scope(session_id="s"), store).list(scope=scope)
    assert {names[a.id] for a in found} == expected


async def test_list_session_falls_back_to_the_run(store: Storage) -> None:
    await populate(store)
    no_session = Artifacts(Scope(run_id="run-3"), store)
    assert [a.run_id for a in await no_session.list(scope="session")] == ["run-3"]


async def test_list_is_newest_first_and_filters_kind_and_limit(artifacts: Artifacts) -> None:
    first = await artifacts.save_text("1", kind="a")
    second = await artifacts.save_text("2", kind="a")
    await artifacts.save_text("3", kind="b")
    assert [a.id for a in await artifacts.list(kind="a")] == [second.id, first.id]
    assert len(await artifacts.list(limit=1)) == 1


async def test_unknown_scope_lists_the_valid_ones(artifacts: Artifacts) -> None:
    with pytest.raises(ValueError, match="run, session, graph, node, all"):
        await artifacts.list(scope="everything")  # type: ignore[arg-type]


async def test_search_by_kind_labels_and_name(artifacts: Artifacts) -> None:
    a = await artifacts.save_text("a", kind="model", name="m1", labels={"arch": "cnn", "v": 1})
    b = await artifacts.save_text("b", kind="model", name="m2", labels={"arch": "rnn"})
    await artifacts.save_text("c", kind="data", labels={"arch": "cnn"})
    assert [x.id for x in await artifacts.search(kind="model", labels={"arch": "cnn"})] == [a.id]
    assert [x.id for x in await artifacts.search(name="m2")] == [b.id]
    assert len(await artifacts.search(labels={"arch": "cnn"})) == 2
    assert len(await artifacts.search()) == 3


async def test_search_in_scope(store: Storage) -> None:
    made = await populate(store)
    found = await Artifacts(Scope(session_id="s"), store).search(kind="note", scope="node")
    assert [a.id for a in found] == [made["here"].id]


async def test_best_picks_max_or_min_of_the_metric(artifacts: Artifacts) -> None:
    low = await artifacts.save_text("l", kind="model", metrics={"acc": 0.5})
    high = await artifacts.save_text("h", kind="model", metrics={"acc": 0.9})
    await artifacts.save_text("n", kind="model", metrics={"loss": 0.1})
    await artifacts.save_text("o", kind="other", metrics={"acc": 1.0})
    best = await artifacts.best(kind="model", metric="acc")
    worst = await artifacts.best(kind="model", metric="acc", mode="min")
    assert best is not None
    assert best.id == high.id
    assert worst is not None
    assert worst.id == low.id


async def test_best_ties_go_to_the_newest(artifacts: Artifacts) -> None:
    await artifacts.save_text("a", kind="m", metrics={"acc": 1})
    newer = await artifacts.save_text("b", kind="m", metrics={"acc": 1})
    best = await artifacts.best(kind="m", metric="acc")
    assert best is not None
    assert best.id == newer.id


async def test_best_filters_by_labels_and_scope(store: Storage) -> None:
    here = Artifacts(Scope(), store)
    there = Artifacts(Scope(run_id="run-2"), store)
    mine = await here.save_text("a", kind="m", metrics={"acc": 0.1}, labels={"ds": "x"})
    await here.save_text("b", kind="m", metrics={"acc": 0.5}, labels={"ds": "y"})
    await there.save_text("c", kind="m", metrics={"acc": 0.9}, labels={"ds": "x"})
    best = await here.best(kind="m", metric="acc", scope="run", labels={"ds": "x"})
    assert best is not None
    assert best.id == mine.id


async def test_best_without_candidates_is_none(artifacts: Artifacts) -> None:
    await artifacts.save_text("a", kind="m")
    assert await artifacts.best(kind="m", metric="acc") is None


async def test_best_rejects_an_unknown_mode(artifacts: Artifacts) -> None:
    with pytest.raises(ValueError, match="'max' or 'min'"):
        await artifacts.best(kind="m", metric="acc", mode="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metric"):
        await artifacts.best(kind="m", metric="")


async def test_pin_and_unpin(artifacts: Artifacts) -> None:
    art = await artifacts.save_text("keep")
    assert art.pinned is False
    assert (await artifacts.pin(art.uri)).pinned is True
    assert (await artifacts.get(art)).pinned is True
    assert (await artifacts.pin(art, pinned=False)).pinned is False


async def test_every_write_is_flushed(store: Storage, tmp_path: Path) -> None:
    flushes = 0
    real_flush = store.flush

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def flush(self) -> None:
            nonlocal flushes
            flushes += 1
            await real_flush()

    artifacts = Artifacts(Scope(), Counting())
    source = tmp_path / "f.txt"
    source.write_text("f")
    art = await artifacts.save_text("t")
    await artifacts.save_json([1])
    await artifacts.save_bytes(b"b")
    await artifacts.save_file(source)
    async with artifacts.writer() as w:
        w.write("w")
    await artifacts.pin(art)
    assert flushes == 6
    await artifacts.load_bytes(art)
    await artifacts.list()
    assert flushes == 6
    assert source.read_text() == "f"


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
async def test_list_and_search_reject_a_bad_limit(artifacts: Artifacts, limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        await artifacts.list(limit=limit)
    with pytest.raises(ValueError, match="limit"):
        await artifacts.search(limit=limit)
