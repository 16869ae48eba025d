"""What the run lifecycle builds on: run events, claims, owners' heartbeats and run signals."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from aethergraph.errors import StorageError
from aethergraph.storage.conformance.suite import Suite, make_run
from aethergraph.storage.records import RunEvent, RunStatus

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["RunControlTests"]


def run_event(run_id: str, seq: int, **data: object) -> RunEvent:
    """Event ``seq`` of the run, of type ``step``."""
    return RunEvent(run_id, seq, ts=float(seq), type="step", data=dict(data))


class RunControlTests(Suite):
    """Run events, claims, heartbeats and signals."""

    # -- run events ------------------------------------------------------------------------
    async def test_list_run_events_returns_what_was_appended_in_seq_order(
        self, storage: Storage
    ) -> None:
        events = [
            RunEvent("r1", 2, 2.5, "node_started", {"node": "n", "inputs": {"x": [1, None]}}),
            RunEvent("r1", 1, 1.5, "run_started", {"owner": "Zoë"}),
            RunEvent("r1", 3, 3.5, "run_succeeded"),
        ]
        for event in events:
            storage.append_run_event(event)
        storage.append_run_event(run_event("r2", 1))
        assert await storage.list_run_events("r1") == [events[1], events[0], events[2]]
        assert await storage.list_run_events("unknown") == []

    async def test_run_event_times_read_back_exactly_whatever_their_precision(
        self, storage: Storage
    ) -> None:
        times = [1_700_000_000.123456, 1_700_000_000.1234567, 1.0, 0.5, 1e-7, 2.0**40 + 0.3]
        for seq, ts in enumerate(times, start=1):
            storage.append_run_event(RunEvent("r1", seq, ts, "step", {}))
        await storage.flush()
        assert [e.ts for e in await storage.list_run_events("r1")] == times

    async def test_list_run_events_after_and_limit_page_through_them(
        self, storage: Storage
    ) -> None:
        for seq in range(1, 11):
            storage.append_run_event(run_event("r1", seq))
        page = await storage.list_run_events("r1", after=3, limit=4)
        assert [e.seq for e in page] == [4, 5, 6, 7]
        assert [e.seq for e in await storage.list_run_events("r1", after=8)] == [9, 10]
        assert await storage.list_run_events("r1", after=10) == []
        assert await storage.list_run_events("r1", limit=0) == []

    async def test_last_run_event_seq_is_the_highest_stored_or_zero(self, storage: Storage) -> None:
        assert await storage.last_run_event_seq("r1") == 0
        for seq in [1, 3, 2]:
            storage.append_run_event(run_event("r1", seq))
        storage.append_run_event(run_event("r2", 7))
        assert await storage.last_run_event_seq("r1") == 3
        await storage.flush()
        assert await storage.last_run_event_seq("r2") == 7

    async def test_append_run_event_keeps_every_event_from_several_threads(
        self, storage: Storage
    ) -> None:
        def append_many(thread: int) -> None:
            for seq in range(1, 51):
                storage.append_run_event(run_event(f"r{thread}", seq, thread=thread))

        threads = [threading.Thread(target=append_many, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        await storage.flush()
        for thread in range(8):
            events = await storage.list_run_events(f"r{thread}")
            assert [e.seq for e in events] == list(range(1, 51))
            assert all(e.data == {"thread": thread} for e in events)
            assert await storage.last_run_event_seq(f"r{thread}") == 50

    async def test_a_taken_run_event_seq_is_refused_at_flush_keeping_the_first(
        self, storage: Storage
    ) -> None:
        first = run_event("r1", 1, n="first")
        storage.append_run_event(first)
        await storage.flush()
        storage.append_run_event(run_event("r1", 1, n="again"))
        storage.append_run_event(run_event("r1", 2))
        with pytest.raises(StorageError, match=r"run event 1 of run 'r1'"):
            await storage.flush()
        await storage.flush()  # reported once
        assert await storage.list_run_events("r1") == [first, run_event("r1", 2)]

    # -- claims ----------------------------------------------------------------------------
    async def test_claim_run_without_expected_status_inserts_only_a_new_run(
        self, storage: Storage
    ) -> None:
        mine = make_run("r1", owner="me")
        assert await storage.claim_run(mine, expect_status=None, expect_owner=None) is True
        theirs = make_run("r1", owner="them")
        assert await storage.claim_run(theirs, expect_status=None, expect_owner=None) is False
        assert await storage.get_run("r1") == mine

    async def test_claim_run_replaces_a_run_with_the_expected_status_and_owner(
        self, storage: Storage
    ) -> None:
        await storage.put_run(make_run("r1", status=RunStatus.INTERRUPTED, owner="dead"))
        taken = make_run("r1", status=RunStatus.RUNNING, owner="me")
        assert await storage.claim_run(
            taken, expect_status=RunStatus.INTERRUPTED, expect_owner="dead"
        )
        assert await storage.get_run("r1") == taken
        assert [r.run_id for r in await storage.list_runs()] == ["r1"]

    async def test_claim_run_expecting_no_owner_matches_only_a_run_without_one(
        self, storage: Storage
    ) -> None:
        await storage.put_run(make_run("r1", status=RunStatus.PENDING))
        claimed = make_run("r1", owner="me")
        assert (
            await storage.claim_run(
                claimed, expect_status=RunStatus.PENDING, expect_owner="someone"
            )
            is False
        )
        assert await storage.claim_run(claimed, expect_status=RunStatus.PENDING, expect_owner=None)
        assert (
            await storage.claim_run(
                make_run("r1", owner="other"), expect_status=RunStatus.RUNNING, expect_owner=None
            )
            is False
        )
        assert await storage.get_run("r1") == claimed

    async def test_claim_run_with_the_wrong_status_or_no_run_writes_nothing(
        self, storage: Storage
    ) -> None:
        stored = make_run("r1", status=RunStatus.SUCCEEDED, owner="me")
        await storage.put_run(stored)
        again = make_run("r1", status=RunStatus.RUNNING, owner="me")
        assert await storage.claim_run(
            again, expect_status=RunStatus.FAILED, expect_owner="me"
        ) is (False)
        assert (
            await storage.claim_run(
                make_run("r2"), expect_status=RunStatus.PENDING, expect_owner=None
            )
            is False
        )
        assert await storage.get_run("r1") == stored
        assert await storage.get_run("r2") is None

    # -- owners and signals ----------------------------------------------------------------
    async def test_heartbeats_give_each_owners_last_beat(self, storage: Storage) -> None:
        await storage.beat("a", 1.0)
        await storage.beat("b", 2.0)
        await storage.beat("a", 3.5)
        assert await storage.heartbeats(["a", "b", "never"]) == {"a": 3.5, "b": 2.0}
        assert await storage.heartbeats([]) == {}

    async def test_take_run_signals_returns_each_once_oldest_first(self, storage: Storage) -> None:
        await storage.signal_run("r1", "cancel")
        await storage.signal_run("r2", "cancel")
        await storage.signal_run("r1", "pause")
        assert await storage.take_run_signals([]) == []
        assert await storage.take_run_signals(["r1", "r3"]) == [("r1", "cancel"), ("r1", "pause")]
        assert await storage.take_run_signals(["r1"]) == []
        assert await storage.take_run_signals(["r2"]) == [("r2", "cancel")]
        assert await storage.take_run_signals(["r1", "r2"]) == []
