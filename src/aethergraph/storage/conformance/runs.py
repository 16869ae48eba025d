"""The run records of the contract: runs, nodes and waits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.conformance.suite import Suite, make_run, make_wait
from aethergraph.storage.records import (
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
    WaitStatus,
)

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["RunTests"]


class RunTests(Suite):
    """Runs, nodes and waits."""

    async def test_get_run_returns_what_put_run_stored(self, storage: Storage) -> None:
        record = RunRecord(
            run_id="r1",
            graph_id="g",
            status=RunStatus.SUCCEEDED,
            kind="task_graph",
            inputs={"x": [1, 2.5, None, {"deep": True}], "name": "Zoë"},
            outputs={"y": "done"},
            error="none really",
            created_at=10.5,
            started_at=11.0,
            finished_at=12.25,
            parent_run_id="p1",
            session_id="s1",
            owner="host:1:boot",
        )
        await storage.put_run(record)
        got = await storage.get_run("r1")
        assert got == record
        assert got is not None
        assert type(got.status) is RunStatus

    async def test_get_run_of_unknown_id_is_none(self, storage: Storage) -> None:
        assert await storage.get_run("nope") is None

    async def test_put_run_replaces_the_record_with_the_same_id(self, storage: Storage) -> None:
        await storage.put_run(make_run("r1"))
        final = make_run("r1", status=RunStatus.FAILED, outputs={"partial": 1}, error="boom")
        await storage.put_run(final)
        assert await storage.get_run("r1") == final
        assert await storage.list_runs() == [final]

    async def test_list_runs_is_newest_first(self, storage: Storage) -> None:
        for run_id, created_at in [("b", 2.0), ("c", 3.0), ("a", 1.0)]:
            await storage.put_run(make_run(run_id, created_at))
        assert [r.run_id for r in await storage.list_runs()] == ["c", "b", "a"]

    async def test_list_runs_orders_equal_times_newest_stored_first_even_after_replace(
        self,
        storage: Storage,
    ) -> None:
        for run_id in ["first", "second", "third"]:
            await storage.put_run(make_run(run_id, 5.0))
        await storage.put_run(make_run("first", 5.0, status=RunStatus.SUCCEEDED))
        assert [r.run_id for r in await storage.list_runs()] == ["third", "second", "first"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("status", RunStatus.WAITING),
            ("graph_id", "other"),
            ("session_id", "s1"),
            ("parent_run_id", "p1"),
        ],
    )
    async def test_list_runs_filters_by_field(
        self, storage: Storage, field: str, value: Any
    ) -> None:
        await storage.put_run(make_run("plain", 1.0))
        await storage.put_run(make_run("match-old", 2.0, **{field: value}))
        await storage.put_run(make_run("match-new", 3.0, **{field: value}))
        found = await storage.list_runs(**{field: value})
        assert [r.run_id for r in found] == ["match-new", "match-old"]

    async def test_list_runs_requires_every_filter_given(self, storage: Storage) -> None:
        await storage.put_run(make_run("r1", graph_id="g1", session_id="s"))
        await storage.put_run(make_run("r2", graph_id="g2", session_id="s"))
        found = await storage.list_runs(graph_id="g2", session_id="s", status=RunStatus.RUNNING)
        assert [r.run_id for r in found] == ["r2"]
        assert await storage.list_runs(graph_id="g2", session_id="other") == []

    async def test_list_runs_pages_with_limit_and_offset(self, storage: Storage) -> None:
        for n in range(10):
            await storage.put_run(make_run(f"r{n}", float(n)))
        page = await storage.list_runs(limit=3, offset=2)
        assert [r.run_id for r in page] == ["r7", "r6", "r5"]
        assert await storage.list_runs(limit=5, offset=9) == [make_run("r0", 0.0)]
        assert await storage.list_runs(limit=0) == []

    async def test_list_nodes_keeps_first_stored_order_after_replace(
        self, storage: Storage
    ) -> None:
        for node_id in ["n2", "n1", "n3"]:
            await storage.put_node(NodeRecord("r1", node_id, "tool", NodeStatus.RUNNING))
        done = NodeRecord(
            "r1",
            "n2",
            "tool",
            NodeStatus.SUCCEEDED,
            inputs={"a": 1},
            outputs={"b": [2]},
            error=None,
            attempts=2,
            started_at=1.0,
            finished_at=2.0,
        )
        await storage.put_node(done)
        nodes = await storage.list_nodes("r1")
        assert [n.node_id for n in nodes] == ["n2", "n1", "n3"]
        assert nodes[0] == done
        assert type(nodes[0].status) is NodeStatus

    async def test_a_journaled_step_reads_back_as_stored_with_exact_times(
        self, storage: Storage
    ) -> None:
        inputs = {"a": [1, "é"]}
        await storage.put_node(
            NodeRecord("r1", "s_1", "tool", NodeStatus.RUNNING, inputs, started_at=1.0000001)
        )
        for error, outputs in ((None, {"b": 0.1}), ("ValueError: x", None)):
            step = NodeRecord(
                "r1",
                "s_1",
                "tool",
                NodeStatus.SUCCEEDED if error is None else NodeStatus.FAILED,
                inputs,
                outputs,
                error,
                1,
                1_700_000_000.123456,
                1_700_000_000.1234567,
            )
            await storage.journal_node(step)
            assert await storage.list_nodes("r1") == [step]
            await storage.flush()
            assert await storage.list_nodes("r1") == [step]

    async def test_list_nodes_returns_only_that_runs_nodes(self, storage: Storage) -> None:
        await storage.put_node(NodeRecord("r1", "n", "tool", NodeStatus.RUNNING))
        await storage.put_node(NodeRecord("r2", "n", "tool", NodeStatus.FAILED, error="x"))
        assert await storage.list_nodes("r2") == [
            NodeRecord("r2", "n", "tool", NodeStatus.FAILED, error="x")
        ]
        assert await storage.list_nodes("unknown") == []

    async def test_get_wait_returns_what_put_wait_stored(self, storage: Storage) -> None:
        wait = make_wait(
            "w1",
            status=WaitStatus.ANSWERED,
            options=["yes", "no"],
            channel="slack",
            created_at=5.0,
            deadline=65.0,
            reply={"text": "yes", "by": "ana"},
        )
        await storage.put_wait(wait)
        got = await storage.get_wait("w1")
        assert got == wait
        assert got is not None
        assert type(got.status) is WaitStatus
        assert await storage.get_wait("unknown") is None

    async def test_list_waits_filters_by_run_and_status_first_stored_first(
        self, storage: Storage
    ) -> None:
        await storage.put_wait(make_wait("w1", "r1"))
        await storage.put_wait(make_wait("w2", "r2"))
        await storage.put_wait(make_wait("w3", "r1"))
        await storage.put_wait(make_wait("w1", "r1", status=WaitStatus.ANSWERED, reply={"ok": 1}))

        async def ids(**query: Any) -> list[str]:
            return [w.wait_id for w in await storage.list_waits(**query)]

        assert await ids() == ["w1", "w2", "w3"]
        assert await ids(run_id="r1") == ["w1", "w3"]
        assert await ids(status=WaitStatus.OPEN) == ["w2", "w3"]
        assert await ids(run_id="r1", status=WaitStatus.ANSWERED) == ["w1"]
        assert await ids(run_id="r3") == []
