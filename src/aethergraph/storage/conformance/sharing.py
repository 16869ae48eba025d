"""Flush and close, and several storage objects on the same data (skipped where there cannot be)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aethergraph.storage.conformance.suite import Suite, make_run
from aethergraph.storage.records import LogEntry, NodeRecord, NodeStatus, RunEvent, RunStatus

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["SharingTests"]


class SharingTests(Suite):
    """Flush, close, and what two storage objects on the same data see of each other."""

    async def test_flush_and_close_are_idempotent(self, storage: Storage) -> None:
        await storage.put_run(make_run("r1"))
        await storage.flush()
        await storage.flush()
        assert await storage.get_run("r1") == make_run("r1")
        await storage.close()
        await storage.close()
        await storage.flush()

    async def test_a_second_object_sees_the_writes_of_the_first_after_flush(
        self, storage: Storage, second: Storage
    ) -> None:
        node = NodeRecord("r1", "n", "tool", NodeStatus.SUCCEEDED, outputs={"y": 1})
        event = RunEvent("r1", 1, 1.0, "run_started", {"x": 1})
        await storage.put_run(make_run("r1"))
        await storage.put_node(node)
        storage.append_run_event(event)
        await storage.kv_set_many({"k": [1, 2]}, expires_at=None)
        await storage.flush()
        assert await second.get_run("r1") == make_run("r1")
        assert await second.list_nodes("r1") == [node]
        assert await second.list_run_events("r1") == [event]
        assert await second.last_run_event_seq("r1") == 1
        assert await second.kv_get_many(["k"]) == {"k": [1, 2]}

    async def test_a_second_object_reads_the_blobs_of_the_first(
        self, storage: Storage, second: Storage
    ) -> None:
        data = b"\x00shared\xff" * 100
        sha = await storage.put_bytes(data)
        staged = storage.staging_path(".txt")
        staged.write_bytes(b"a file")
        from_file = await storage.put_file(staged, move=True)
        assert await second.read_bytes(sha) == data
        assert (await second.local_path(from_file)).read_bytes() == b"a file"

    async def test_unflushed_run_events_and_logs_reach_a_second_object_in_a_moment(
        self, storage: Storage, second: Storage
    ) -> None:
        event = RunEvent("r1", 1, 1.0, "run_started")
        storage.append_run_event(event)
        storage.append_log(LogEntry("r1", 1.0, "INFO", "started"))
        for _ in range(500):
            if await second.list_run_events("r1"):
                break
            await asyncio.sleep(0.01)
        assert await second.list_run_events("r1") == [event]
        assert [e.message for e in await second.list_logs("r1")] == ["started"]

    async def test_claims_beats_and_signals_reach_a_second_object_without_flush(
        self, storage: Storage, second: Storage
    ) -> None:
        mine = make_run("r1", owner="me")
        assert await storage.claim_run(mine, expect_status=None, expect_owner=None)
        await storage.beat("me", 5.0)
        await storage.signal_run("r1", "cancel")
        assert await second.get_run("r1") == mine
        assert await second.claim_run(make_run("r1"), expect_status=None, expect_owner=None) is (
            False
        )
        assert await second.heartbeats(["me"]) == {"me": 5.0}
        assert await second.take_run_signals(["r1"]) == [("r1", "cancel")]
        assert await storage.take_run_signals(["r1"]) == []

    async def test_one_of_two_objects_racing_to_claim_a_run_wins(
        self, storage: Storage, second: Storage
    ) -> None:
        for n in range(10):
            await storage.put_run(make_run(f"r{n}", status=RunStatus.PENDING))
        await storage.flush()
        for n in range(10):
            results = await asyncio.gather(
                *(
                    store.claim_run(
                        make_run(f"r{n}", owner=name),
                        expect_status=RunStatus.PENDING,
                        expect_owner=None,
                    )
                    for store, name in [(storage, "first"), (second, "second")]
                )
            )
            assert sorted(results) == [False, True]
            stored = await second.get_run(f"r{n}")
            assert stored is not None
            assert stored.owner == ("first" if results[0] else "second")

    async def test_signals_taken_by_two_objects_at_once_are_each_delivered_once(
        self, storage: Storage, second: Storage
    ) -> None:
        runs = [f"r{n}" for n in range(20)]
        for run_id in runs:
            await storage.signal_run(run_id, "cancel")
        taken: list[tuple[str, str]] = []
        for _ in range(3):
            for found in await asyncio.gather(
                storage.take_run_signals(runs), second.take_run_signals(runs)
            ):
                taken.extend(found)
        assert sorted(taken) == sorted((run_id, "cancel") for run_id in runs)

    async def test_kv_incr_from_tasks_on_two_objects_loses_no_increment(
        self, storage: Storage, second: Storage
    ) -> None:
        async def add(store: Storage) -> None:
            for _ in range(5):
                await store.kv_incr("counter", 1)
                await asyncio.sleep(0)

        await asyncio.gather(*(add(storage if n % 2 else second) for n in range(8)))
        await storage.flush()
        await second.flush()
        assert await storage.kv_get_many(["counter"]) == {"counter": 40}
        assert await second.kv_get_many(["counter"]) == {"counter": 40}
