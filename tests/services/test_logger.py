"""RunLogger: identity on every record, records kept with the run, JSON-safe, thread-safe."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import pytest

from aethergraph.services.logger import RunLogger
from tests.services.conftest import Scope

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aethergraph.storage.protocols import Storage


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    run_logger = logging.getLogger("aethergraph.run")
    old_level = run_logger.level
    run_logger.addHandler(handler)
    run_logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        run_logger.removeHandler(handler)
        run_logger.setLevel(old_level)


SESSION = Scope(session_id="sess-1")


def test_records_carry_the_node_identity_and_the_callers_extra(
    store: Storage, captured: Capture
) -> None:
    log = RunLogger(SESSION, store)
    log.info("trainer.submit", extra={"spec": {"epochs": 10}})
    (record,) = captured.records
    assert record.name == "aethergraph.run"
    assert record.getMessage() == "trainer.submit"
    assert (record.run_id, record.graph_id, record.node_id, record.session_id) == (  # type: ignore[attr-defined]
        "run-1",
        "graph-1",
        "node-1",
        "sess-1",
    )
    assert record.spec == {"epochs": 10}  # type: ignore[attr-defined]


def test_identity_keys_win_over_the_callers_extra(store: Storage, captured: Capture) -> None:
    log = RunLogger(Scope(), store)
    log.warning("x", extra={"run_id": "forged", "other": 1})
    (record,) = captured.records
    assert record.run_id == "run-1"  # type: ignore[attr-defined]
    assert record.other == 1  # type: ignore[attr-defined]


def test_extra_keys_logrecord_owns_do_not_break_logging(store: Storage, captured: Capture) -> None:
    log = RunLogger(Scope(), store)
    log.error("x", extra={"name": "mine", "message": "m"})
    (record,) = captured.records
    assert record.name == "aethergraph.run"
    assert record.extra_name == "mine"  # type: ignore[attr-defined]


def test_record_points_at_the_callers_line(store: Storage, captured: Capture) -> None:
    RunLogger(Scope(), store).info("here")
    (record,) = captured.records
    assert record.pathname == __file__
    assert record.funcName == "test_record_points_at_the_callers_line"


async def test_records_are_kept_with_the_run_even_when_the_logger_is_disabled(
    store: Storage,
) -> None:
    run_logger = logging.getLogger("aethergraph.run")
    old_level = run_logger.level
    run_logger.setLevel(logging.CRITICAL)
    try:
        log = RunLogger(SESSION, store)
        assert not log.isEnabledFor(logging.INFO)
        log.info("epoch %d of %d", 1, 10, extra={"loss": 0.5})
    finally:
        run_logger.setLevel(old_level)
    (entry,) = await store.list_logs("run-1")
    assert entry.message == "epoch 1 of 10"
    assert entry.level == "INFO"
    assert (entry.run_id, entry.graph_id, entry.node_id) == ("run-1", "graph-1", "node-1")
    assert entry.extra == {"loss": 0.5, "session_id": "sess-1"}
    assert entry.ts > 0


async def test_records_below_keep_level_are_not_kept(store: Storage) -> None:
    log = RunLogger(Scope(), store, keep_level=logging.WARNING)
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.log(logging.CRITICAL, "c")
    kept = await store.list_logs("run-1")
    assert [(e.level, e.message) for e in kept] == [("WARNING", "w"), ("CRITICAL", "c")]
    assert log.keep_level == logging.WARNING


async def test_debug_is_not_kept_by_default(store: Storage) -> None:
    RunLogger(Scope(), store).debug("noise")
    assert await store.list_logs("run-1") == []


async def test_kept_extra_is_json_safe(store: Storage) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    circular: list[object] = []
    circular.append(circular)
    log = RunLogger(Scope(), store)
    log.info(
        "x",
        extra={
            "obj": Opaque(),
            "nested": {"s": {1, 2}, 3: (1, "a")},
            "nan": float("nan"),
            "circular": circular,
            "run_id": "forged",
        },
    )
    (entry,) = await store.list_logs("run-1")
    assert entry.extra["obj"] == "<opaque>"
    assert entry.extra["nested"] == {"s": "{1, 2}", "3": [1, "a"]}
    assert entry.extra["nan"] == "nan"
    assert isinstance(entry.extra["circular"], list)
    assert "run_id" not in entry.extra
    assert entry.run_id == "run-1"


async def test_message_with_bad_format_args_is_kept_anyway(store: Storage) -> None:
    RunLogger(Scope(), store).info("%d items", "not a number")
    (entry,) = await store.list_logs("run-1")
    assert entry.message == "%d items ('not a number',)"


async def test_message_with_a_mapping_arg_is_formatted(store: Storage) -> None:
    RunLogger(Scope(), store).info("%(n)s done", {"n": 3})
    (entry,) = await store.list_logs("run-1")
    assert entry.message == "3 done"


async def test_exception_keeps_the_traceback_text(store: Storage) -> None:
    log = RunLogger(Scope(), store)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed %s", "step")
    (entry,) = await store.list_logs("run-1")
    assert entry.level == "ERROR"
    assert entry.message == "failed step"
    assert "ValueError: boom" in entry.extra["exc_text"]
    assert "Traceback" in entry.extra["exc_text"]


async def test_exc_info_given_as_an_exception_is_kept(store: Storage) -> None:
    RunLogger(Scope(), store).error("bad", exc_info=KeyError("k"))
    (entry,) = await store.list_logs("run-1")
    assert "KeyError" in entry.extra["exc_text"]


async def test_records_logged_from_threads_are_all_kept(store: Storage) -> None:
    log = RunLogger(Scope(), store)

    def work(i: int) -> None:
        for j in range(20):
            log.info("thread %d line %d", i, j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = await store.list_logs("run-1", limit=10_000)
    assert len(kept) == 160
    assert {e.message for e in kept} == {
        f"thread {i} line {j}" for i in range(8) for j in range(20)
    }


async def test_records_are_kept_per_run(store: Storage) -> None:
    RunLogger(Scope(run_id="a"), store).info("in a")
    RunLogger(Scope(run_id="b"), store).info("in b")
    assert [e.message for e in await store.list_logs("a")] == ["in a"]
    assert [e.message for e in await store.list_logs("b")] == ["in b"]
