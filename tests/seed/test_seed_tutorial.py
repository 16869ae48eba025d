"""The custom-services tutorial runs: every ```python block, as written.

Two documents are run: ``docs/custom-services.md``, our own, always; and the user's tutorial,
``custom-services-tutorial.md``, when it is beside the repository. Both hold the same blocks.

Blocks are read from the document at test time and executed in document order, one namespace per
logical group (a section, or the sections that build on each other). The glue is only what the
document implies:

* the imports its earlier blocks made (``PRELUDE``), for blocks that use them without importing;
* blocks that use ``context`` directly run as the body of a graph_fn node (top-level ``await``);
* ``...`` bodies and helpers the document leaves to the reader (``_submit_to_cluster``,
  ``_upload``, ``_do_http_call``, ...) are filled in by a subclass;
* the two class-body ``critical`` sketches of section 4A are not valid Python (the test shows how
  they fail) and are replaced by the three valid forms: ``self.m = self.critical()(self.m)``,
  ``@Service.critical`` and ``@Service.critical()``.

Runs are kept in a temporary workspace; services the blocks register are removed afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import aethergraph.runtime
from aethergraph import graph_fn, run, run_async
from aethergraph.core.engine.runtime import current_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.services.runtime.base import Service
    from aethergraph.storage.records import Event, LogEntry

REPO_DOC = Path(__file__).parents[2] / "docs" / "custom-services.md"
USER_DOC = Path(__file__).parents[2].parent / "shared" / "seed" / "custom-services-tutorial.md"
DOCS = [REPO_DOC, *([USER_DOC] if USER_DOC.is_file() else [])]

PRELUDE = """\
from aethergraph import graph_fn, tool
from aethergraph.services.runtime.base import Service
from aethergraph.services.runtime.registry import register_context_service
"""
"""The imports the document's earlier blocks made, which later blocks use without importing."""

# Each block of the document, found by a line only it contains.
MARKERS = {
    "intro": 'await context.storage().put("/tmp/report.pdf")',
    "demo_trainer": '@graph_fn(name="demo_trainer")',
    "trainer": "class Trainer(Service):",
    "register_trainer": "trainer_service = Trainer()",
    "call_anywhere": "job_id = await context.trainer().submit(spec)",
    "train_and_wait": '@graph_fn(name="train_and_wait", outputs=["job_id", "done"])',
    "storage": "class Storage(Service):",
    "critical_sketch": "@Service.critical(self)",
    "critical_method_sketch": "return super().critical()",
    "heavy": "class Heavy(Service):",
    "tracker": "class Tracker(Service):",
    "fake_trainer": "class FakeTrainer(Service):",
    "predictor": "class Predictor(Service):",
}
# A one-line block is found by being exactly that line.
EXACT = {"call_anywhere"}


@dataclass(frozen=True)
class Block:
    """One ```python block: where it starts in the document and its source."""

    index: int
    line: int
    source: str
    path: Path

    def code(self, source: str | None = None, *, flags: int = 0) -> Any:
        """Compiled so that tracebacks point at the document's own lines."""
        text = "\n" * (self.line - 1) + (self.source if source is None else source)
        return compile(text, str(self.path), "exec", flags=flags, dont_inherit=True)


def read_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(i, text[: m.start(1)].count("\n") + 1, m.group(1), path)
        for i, m in enumerate(re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S))
    ]


def claim(blocks: list[Block], name: str) -> Block:
    marker = MARKERS[name]
    if name in EXACT:
        found = [b for b in blocks if b.source.strip() == marker]
    else:
        found = [b for b in blocks if marker in b.source]
    where = blocks[0].path.name if blocks else "the document"
    assert len(found) == 1, f"expected one block with {marker!r} in {where}, found {len(found)}"
    return found[0]


class Seed:
    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks

    def __getitem__(self, name: str) -> Block:
        return claim(self.blocks, name)


@pytest.fixture(scope="module", params=DOCS, ids=lambda p: p.name)
def seed(request: pytest.FixtureRequest) -> Seed:
    return Seed(read_blocks(request.param))


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    """Runs go to a fresh workspace folder; the previous configuration comes back afterwards."""
    folder = tmp_path / "workspace"
    with current_runtime().scoped(workspace=folder) as runtime:
        try:
            yield folder
        finally:
            asyncio.run(runtime.storage().close())


@pytest.fixture(autouse=True)
def services() -> Iterator[None]:
    """Undo the registrations the blocks make."""
    before = {
        name: aethergraph.runtime.get_ext_context_service(name)
        for name in aethergraph.runtime.list_ext_context_services()
    }
    try:
        yield
    finally:
        for name in aethergraph.runtime.list_ext_context_services():
            if name in before:
                aethergraph.runtime.register_context_service(name, before[name])
            else:
                aethergraph.runtime.unregister_context_service(name)


@pytest.fixture
def report_pdf() -> Iterator[Path]:
    """The file the document uploads, ``/tmp/report.pdf``; made (and removed) if missing."""
    path = Path("/tmp/report.pdf")
    made = not path.exists()
    if made:
        path.write_bytes(b"%PDF-1.4\n% report for the seed tutorial test\n%%EOF\n")
    try:
        yield path
    finally:
        if made:
            path.unlink(missing_ok=True)


def namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "seed_tutorial"}
    exec(compile(PRELUDE, "<prelude>", "exec"), ns)
    return ns


def run_in_node(block: Block, ns: dict[str, Any], source: str | None = None, **names: Any) -> Any:
    """Run ``block`` as the body of a graph_fn node, with ``context`` and ``names`` in scope.

    Returns the node's context (its ids stay readable after the run).
    """

    @graph_fn(name="seed_block")
    async def seed_block(*, context: Any) -> dict[str, Any]:
        ns.update(names, context=context)
        pending = eval(block.code(source, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), ns)
        if pending is not None:
            await pending
        return {}

    run(seed_block)
    return ns["context"]


def stored_events(run_id: str) -> list[Event]:
    return asyncio.run(current_runtime().storage().query_events(run_id=run_id, limit=100))


def stored_logs(run_id: str) -> list[LogEntry]:
    return asyncio.run(current_runtime().storage().list_logs(run_id))


def only_run(graph_id: str) -> aethergraph.runtime.RunRecord:
    records = aethergraph.runtime.list_runs(graph_id=graph_id)
    assert len(records) == 1, records
    return records[0]


# -- glue: what the document leaves to the reader ------------------------------------------


class FakeCluster:
    """A scheduler in a dict: jobs complete at once."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}

    def submit(self, spec: dict[str, Any]) -> str:
        job_id = f"job-{len(self.jobs) + 1}"
        self.jobs[job_id] = spec
        return job_id


def fill_trainer(ns: dict[str, Any]) -> FakeCluster:
    """Give the document's Trainer a cluster, under the same name, for the blocks that follow."""
    cluster = FakeCluster()

    class Trainer(ns["Trainer"]):
        async def _submit_to_cluster(self, spec: dict[str, Any]) -> str:
            return cluster.submit(spec)

        async def _query_cluster(self, job_id: str) -> str:
            return "COMPLETED" if job_id in cluster.jobs else "UNKNOWN"

    ns["Trainer"] = Trainer
    return cluster


def fill_storage(ns: dict[str, Any], bucket: Path) -> Service:
    """The document's Storage, uploading into a local folder."""

    class BucketStorage(ns["Storage"]):
        async def _upload(self, local_path: str, key: str) -> str:
            target = bucket / key
            await self.run_blocking(_copy, Path(local_path), target)
            return target.as_uri()

        async def _download(self, uri: str, dest: str) -> None:
            await self.run_blocking(_copy, Path(uri.removeprefix("file://")), Path(dest))

    return BucketStorage()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def tracker_api(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": f"RUNNING {request.url.path}"})


def fill_tracker(ns: dict[str, Any]) -> type[Service]:
    """The document's Tracker: its start() leaves ``self._client = ...``; put a client there."""

    class HttpTracker(ns["Tracker"]):
        starts = 0
        closes = 0

        async def start(self) -> None:
            await super().start()
            assert self._client is Ellipsis  # the document's placeholder
            self.starts += 1
            self._client = httpx.AsyncClient(
                base_url="http://tracker.test", transport=httpx.MockTransport(tracker_api)
            )

        async def close(self) -> None:
            self.closes += 1
            await super().close()

        async def job_status(self, job_id: str) -> str:
            response = await self._client.get(f"/jobs/{job_id}")
            return response.json()["status"]

    return HttpTracker


# -- every block is exercised ----------------------------------------------------------------


def test_every_python_block_of_the_document_is_exercised(seed: Seed) -> None:
    claimed = sorted(seed[name].index for name in MARKERS)
    assert claimed == list(range(len(seed.blocks))), (
        "a ```python block of the tutorial is not exercised by this test, or is claimed twice"
    )


# -- sections 1-3A: Trainer, registration, graph_fn + tool ----------------------------------


def test_sections_1_to_3a_submit_and_wait_through_the_trainer_service(
    seed: Seed, workspace: Path
) -> None:
    ns = namespace()
    exec(seed["demo_trainer"].code(), ns)
    exec(seed["trainer"].code(), ns)
    cluster = fill_trainer(ns)
    exec(seed["register_trainer"].code(), ns)
    assert aethergraph.runtime.get_ext_context_service("trainer") is ns["trainer_service"]

    assert run(ns["demo_trainer"]) == {"job_id": "job-1"}
    assert cluster.jobs["job-1"] == {"epochs": 10}

    node = run_in_node(seed["call_anywhere"], ns, spec={"lr": 0.1})
    assert ns["job_id"] == "job-2"
    assert cluster.jobs["job-2"] == {"lr": 0.1}
    assert aethergraph.runtime.get_run(node.run_id).status == "succeeded"

    exec(seed["train_and_wait"].code(), ns)
    spec = {"epochs": 3, "model": "resnet"}
    out = run(ns["train_and_wait"], {"spec": spec})
    assert out == {"job_id": "job-3", "done": True}

    record = only_run("train_and_wait")
    assert record.status == aethergraph.runtime.RunStatus.SUCCEEDED
    assert record.inputs == {"spec": spec}
    assert record.outputs == out
    assert (workspace / "aethergraph.db").is_file()

    nodes = asyncio.run(current_runtime().storage().list_nodes(record.run_id))
    assert [(n.tool, n.status, n.inputs, n.outputs) for n in nodes] == [
        ("wait_for_training", "succeeded", {"job_id": "job-3"}, {"ready": True})
    ]

    # Trainer.submit recorded the job id in memory, stamped with the node that called it.
    events = stored_events(record.run_id)
    assert [(e.kind, e.topic, e.data, e.node_id) for e in events] == [
        ("tool_result", "trainer.submit", {"job_id": "job-3"}, "root")
    ]
    assert events[0].outputs == [{"name": "job_id", "kind": "text", "value": "job-3"}]

    # ...and its log line is kept with the run, with the caller's extra and the node identity.
    logs = [entry for entry in stored_logs(record.run_id) if entry.message == "trainer.submit"]
    assert len(logs) == 1
    assert logs[0].level == "INFO"
    assert logs[0].extra["spec"] == spec
    assert (logs[0].graph_id, logs[0].node_id) == ("train_and_wait", "root")


def test_a_job_that_is_not_completed_is_not_done(seed: Seed, workspace: Path) -> None:
    ns = namespace()
    exec(seed["trainer"].code(), ns)
    fill_trainer(ns)

    class PendingTrainer(ns["Trainer"]):
        async def _query_cluster(self, job_id: str) -> str:
            return "RUNNING"

    ns["Trainer"] = PendingTrainer
    exec(seed["register_trainer"].code(), ns)
    exec(seed["train_and_wait"].code(), ns)
    assert run(ns["train_and_wait"], {"spec": {}}) == {"job_id": "job-1", "done": False}


# -- section 3B: a storage wrapper ------------------------------------------------------------


def test_section_3b_storage_wrapper_uploads_and_downloads(
    seed: Seed, workspace: Path, report_pdf: Path, tmp_path: Path
) -> None:
    ns = namespace()
    exec(seed["storage"].code(), ns)
    registered = aethergraph.runtime.get_ext_context_service("storage")
    assert type(registered) is ns["Storage"]

    bucket = tmp_path / "bucket"
    storage = fill_storage(ns, bucket)
    aethergraph.runtime.register_context_service("storage", storage)

    out = run(ns["upload_report"])
    uploaded = bucket / "reports" / "2025-01-01.pdf"
    assert out == {"uri": uploaded.as_uri()}
    assert uploaded.read_bytes() == report_pdf.read_bytes()

    record = only_run("upload_report")
    assert record.outputs == out
    logs = [entry for entry in stored_logs(record.run_id) if entry.message == "storage.put"]
    assert [entry.extra["uri"] for entry in logs] == [out["uri"]]

    @graph_fn(name="download_report")
    async def download_report(uri: str, dest: str, *, context: Any) -> dict[str, Any]:
        await context.storage().get(uri, dest)
        return {}

    dest = tmp_path / "back.pdf"
    run(download_report, {"uri": out["uri"], "dest": str(dest)})
    assert dest.read_bytes() == report_pdf.read_bytes()


# -- section 4A: critical sections ------------------------------------------------------------

FORMS = ("init", "decorator", "decorator_call")


def critical_form(source: str, form: str, *, sketch: str) -> str:
    """The sketch with its invalid ``critical`` lines replaced by one valid form (or by none).

    Removed lines become blank lines, so tracebacks keep pointing at the document's lines.
    """
    if sketch == "critical_method_sketch":
        source, n = re.subn(
            r"^[ \t]*def critical\(self\):.*\n[ \t]*return super\(\)\.critical\(\)$",
            "\n",
            source,
            flags=re.M,
        )
        assert n == 1, "the critical() override of the second sketch was not found"
        decorator = r"^([ \t]*)@critical[ \t]*(#.*)?$"
    else:
        decorator = r"^([ \t]*)@Service\.critical\(self\)[ \t]*(#.*)?$"
    replacement = {
        "init": "",
        "none": "",
        "decorator": r"\1@Service.critical",
        "decorator_call": r"\1@Service.critical()",
    }[form]
    source, n = re.subn(decorator, replacement, source, flags=re.M)
    assert n == 1, f"the critical decorator of {sketch} was not found"
    if form == "init":
        source, n = re.subn(
            r"^([ \t]*)super\(\).__init__\(\)$",
            r"\1super().__init__()\n\1self.call = self.critical()(self.call)",
            source,
            flags=re.M,
        )
        assert n == 1, f"the super().__init__() line of {sketch} was not found"
    return source


def test_section_4a_class_body_sketches_are_not_valid_python_as_written(seed: Seed) -> None:
    ns = namespace()
    with pytest.raises(NameError, match="self"):
        exec(seed["critical_sketch"].code(), ns)
    with pytest.raises(RuntimeError, match="super"):
        exec(seed["critical_method_sketch"].code(), ns)


def rate_limited(seed: Seed, form: str) -> type[Service]:
    """The first sketch in ``form``, with the ``_do_http_call`` it leaves out filled in."""
    ns = namespace()
    block = seed["critical_sketch"]
    exec(block.code(critical_form(block.source, form, sketch="critical_sketch")), ns)

    class RateLimitedAPI(ns["RateLimitedAPI"]):
        in_flight = 0
        max_in_flight = 0

        async def _do_http_call(self, payload: dict[str, Any]) -> dict[str, Any]:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(0.005)
            self.in_flight -= 1
            return {"echo": payload}

    return RateLimitedAPI


@graph_fn(name="hammer_api")
async def hammer_api(calls: int, *, context: Any) -> dict[str, Any]:
    api = context.ratelimited_api()
    replies = await asyncio.gather(*(api.call({"i": i}) for i in range(calls)))
    return {"replies": [r["echo"]["i"] for r in replies]}


@pytest.mark.parametrize("form", FORMS)
def test_section_4a_critical_serializes_concurrent_calls(
    seed: Seed, workspace: Path, form: str
) -> None:
    api = rate_limited(seed, form)()
    aethergraph.runtime.register_context_service("ratelimited_api", api)
    out = run(hammer_api, {"calls": 20})
    assert out == {"replies": list(range(20))}
    assert api._remaining == 80
    assert api.max_in_flight == 1


def test_section_4a_without_critical_the_calls_overlap(seed: Seed, workspace: Path) -> None:
    api = rate_limited(seed, "none")()
    aethergraph.runtime.register_context_service("ratelimited_api", api)
    run(hammer_api, {"calls": 20})
    assert api.max_in_flight == 20


@pytest.mark.parametrize("form", FORMS)
def test_section_4a_critical_enforces_the_budget(seed: Seed, workspace: Path, form: str) -> None:
    api = rate_limited(seed, form)()
    api._remaining = 3
    aethergraph.runtime.register_context_service("ratelimited_api", api)
    with pytest.raises(RuntimeError, match="rate limit exceeded"):
        run(hammer_api, {"calls": 5})
    assert api._remaining == 0
    assert api.max_in_flight == 1


@pytest.mark.parametrize("form", FORMS)
def test_section_4a_second_sketch_runs_its_method_under_the_instance_lock(
    seed: Seed, form: str
) -> None:
    ns = namespace()
    block = seed["critical_method_sketch"]
    exec(block.code(critical_form(block.source, form, sketch="critical_method_sketch")), ns)
    first, second = ns["RateLimitedAPI"](), ns["RateLimitedAPI"]()

    async def scenario() -> None:
        async with first._lock:
            blocked = asyncio.create_task(first.call({}))
            free = asyncio.create_task(second.call({}))  # two instances never share a lock
            await asyncio.sleep(0.02)
            assert not blocked.done()
            assert free.done()
        assert await blocked is None  # the document's body is ``...``
        assert first._remaining == 100

    asyncio.run(scenario())


# -- section 4B: blocking work off the loop ---------------------------------------------------


def test_section_4b_run_blocking_runs_in_a_thread_and_keeps_the_context(
    seed: Seed, workspace: Path
) -> None:
    ns = namespace()
    exec(seed["heavy"].code(), ns)
    seen: list[tuple[str, str, str]] = []

    class Heavy(ns["Heavy"]):
        def _slow_cpu_fn(self, x: int) -> int:
            ctx = self.ctx()
            seen.append((threading.current_thread().name, ctx.run_id, ctx.node_id))
            return sum(i * i for i in range(x))

    aethergraph.runtime.register_context_service("heavy", Heavy())

    @graph_fn(name="heavy_sum")
    async def heavy_sum(x: int, *, context: Any) -> dict[str, Any]:
        value = await context.heavy().compute(x)
        return {"value": value, "run_id": context.run_id, "loop": threading.current_thread().name}

    async def two_runs() -> list[dict[str, Any]]:
        return list(await asyncio.gather(run_async(heavy_sum, {"x": 1000}), heavy_sum(x=2000)))

    first, second = asyncio.run(two_runs())
    assert first["value"] == sum(i * i for i in range(1000))
    assert second["value"] == sum(i * i for i in range(2000))
    assert sorted(s[1:] for s in seen) == sorted(
        [(first["run_id"], "root"), (second["run_id"], "root")]
    )
    assert all(thread != first["loop"] for thread, _, _ in seen)


# -- section 5: lifecycle ---------------------------------------------------------------------


def test_section_5_start_once_and_close_on_close_services_or_after_sync_run(
    seed: Seed, workspace: Path
) -> None:
    ns = namespace()
    exec(seed["tracker"].code(), ns)
    tracker = fill_tracker(ns)()
    aethergraph.runtime.register_context_service("tracker", tracker)

    @graph_fn(name="track")
    async def track(job_id: str, *, context: Any) -> dict[str, Any]:
        return {"status": await context.tracker().job_status(job_id)}

    async def host() -> httpx.AsyncClient:
        outs = await asyncio.gather(*(run_async(track, {"job_id": f"j{i}"}) for i in range(3)))
        assert [o["status"] for o in outs] == [
            "RUNNING /jobs/j0",
            "RUNNING /jobs/j1",
            "RUNNING /jobs/j2",
        ]
        assert (tracker.starts, tracker.closes) == (1, 0)
        client = tracker._client
        assert not client.is_closed
        await aethergraph.runtime.close_services()
        await aethergraph.runtime.close_services()
        return client

    client = asyncio.run(host())
    assert client.is_closed
    assert (tracker.starts, tracker.closes) == (1, 1)

    assert run(track, {"job_id": "j9"}) == {"status": "RUNNING /jobs/j9"}
    assert tracker._client is not client
    assert tracker._client.is_closed
    assert (tracker.starts, tracker.closes) == (2, 2)


# -- section 6: swapping in a fake ------------------------------------------------------------


def test_section_6_a_fake_trainer_replaces_the_real_one(seed: Seed, workspace: Path) -> None:
    ns = namespace()
    exec(seed["trainer"].code(), ns)
    cluster = fill_trainer(ns)
    exec(seed["register_trainer"].code(), ns)
    exec(seed["train_and_wait"].code(), ns)
    exec(seed["fake_trainer"].code(), ns)

    assert type(aethergraph.runtime.get_ext_context_service("trainer")) is ns["FakeTrainer"]
    out = run(ns["train_and_wait"], {"spec": {"epochs": 1}})
    assert out == {"job_id": "job-test-123", "done": True}
    assert cluster.jobs == {}  # the real trainer was not called
    assert stored_events(only_run("train_and_wait").run_id) == []

    class FailingTrainer(ns["FakeTrainer"]):
        async def inspect_job(self, job_id: str) -> dict[str, Any]:
            return {"job_id": job_id, "status": "FAILED"}

    with aethergraph.runtime.override_context_service("trainer", FailingTrainer()):
        assert run(ns["train_and_wait"], {"spec": {}}) == {"job_id": "job-test-123", "done": False}
    assert run(ns["train_and_wait"], {"spec": {}}) == {"job_id": "job-test-123", "done": True}


# -- section 8: callable services ------------------------------------------------------------


def test_section_8_a_callable_service_forwards_arguments_to_call(
    seed: Seed, workspace: Path
) -> None:
    block = seed["predictor"]
    split = block.source.find("# After registration")
    assert split > 0, "section 8's block no longer has its '# After registration' line"
    definition, call_sites = block.source[:split], block.source[split:]
    ns = namespace()
    exec(block.code(definition), ns)
    prompts: list[str] = []

    class Predictor(ns["Predictor"]):
        async def generate(self, prompt: str) -> str:
            prompts.append(prompt)
            return f"generated: {prompt}"

    aethergraph.runtime.register_context_service("predictor", Predictor())

    # Run the call sites one statement at a time to see what each one returned.
    statements = ast.parse(call_sites).body
    texts = []
    offset = definition.count("\n")
    for statement in statements:
        lines = call_sites.splitlines()[statement.lineno - 1 : statement.end_lineno]
        source = "\n" * (offset + statement.lineno - 1) + "\n".join(lines)
        run_in_node(block, ns, source)
        texts.append(ns["text"])
    assert texts == ["generated: hello", "generated: hello"]
    assert prompts == ["hello", "hello"]


# -- the introduction, once the services it uses exist -----------------------------------------


def test_intro_calls_run_inside_a_node_once_trainer_storage_and_tracker_exist(
    seed: Seed, workspace: Path, report_pdf: Path, tmp_path: Path
) -> None:
    """The first block is a preview ("later inside a graph or tool") of sections 2, 3B and 5.

    It calls ``context.storage().put("/tmp/report.pdf")`` without the ``key`` that section 3B's
    ``put(local_path, key)`` requires; the glue's storage derives a key from the file name.
    """
    ns = namespace()
    exec(seed["trainer"].code(), ns)
    cluster = fill_trainer(ns)
    exec(seed["register_trainer"].code(), ns)
    exec(seed["storage"].code(), ns)
    bucket_storage = type(fill_storage(ns, tmp_path / "bucket"))

    class KeyedStorage(bucket_storage):
        async def put(self, local_path: str, key: str | None = None) -> str:
            return await super().put(local_path, key or Path(local_path).name)

    aethergraph.runtime.register_context_service("storage", KeyedStorage())
    exec(seed["tracker"].code(), ns)
    aethergraph.runtime.register_context_service("tracker", fill_tracker(ns)())

    run_in_node(seed["intro"], ns, spec={"epochs": 2}, job_id="job-1")
    assert cluster.jobs == {"job-1": {"epochs": 2}}
    assert (tmp_path / "bucket" / "report.pdf").read_bytes() == report_pdf.read_bytes()
    assert ns["status"] == "RUNNING /jobs/job-1"
