"""The memory events and logs of the contract."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from aethergraph.storage.conformance.suite import Suite, make_event
from aethergraph.storage.records import Event, LogEntry

if TYPE_CHECKING:
    from aethergraph.storage.protocols import Storage

__all__ = ["EventTests"]


class EventTests(Suite):
    """Memory events, their full-text search, and logs."""

    async def test_query_events_returns_what_append_event_stored(self, storage: Storage) -> None:
        event = Event(
            id="e1",
            ts=1.5,
            kind="tool_result",
            scope_id="scope",
            topic="math",
            data={"rows": [[1, 2], [3, 4]], "ok": True},
            text="Sum computed",
            tags=["a", "b"],
            metrics={"loss": 0.25},
            inputs=[{"name": "x", "value": 1}],
            outputs=[{"name": "y", "value": 2}],
            run_id="r1",
            graph_id="g",
            node_id="n",
            session_id="s",
        )
        await storage.append_event(event)
        assert await storage.query_events() == [event]

    async def test_query_events_returns_the_newest_matches_oldest_first(
        self, storage: Storage
    ) -> None:
        for n in range(6):
            await storage.append_event(make_event(n))
        found = await storage.query_events(limit=3)
        assert [e.id for e in found] == ["e3", "e4", "e5"]
        assert await storage.query_events(limit=0) == []

    @pytest.mark.parametrize(
        ("query", "field", "value"),
        [
            ({"scope_id": "s2"}, "scope_id", "s2"),
            ({"run_id": "r2"}, "run_id", "r2"),
            ({"topic": "t2"}, "topic", "t2"),
            ({"kinds": ["k2", "k3"]}, "kind", "k2"),
        ],
    )
    async def test_query_events_filters_by_field(
        self, storage: Storage, query: dict[str, Any], field: str, value: str
    ) -> None:
        await storage.append_event(make_event(1))
        await storage.append_event(make_event(2, **{field: value}))
        await storage.append_event(make_event(3))
        assert [e.id for e in await storage.query_events(**query)] == ["e2"]

    async def test_query_events_requires_every_tag(self, storage: Storage) -> None:
        await storage.append_event(make_event(1, tags=["a"]))
        await storage.append_event(make_event(2, tags=["b", "a", "c"]))
        await storage.append_event(make_event(3, tags=["b"]))
        assert [e.id for e in await storage.query_events(tags=["a", "b"])] == ["e2"]
        assert [e.id for e in await storage.query_events(tags=["a"])] == ["e1", "e2"]
        assert len(await storage.query_events(tags=[])) == 3

    async def test_query_events_text_requires_every_word_in_any_case(
        self, storage: Storage
    ) -> None:
        await storage.append_event(make_event(1, text="The quick brown fox"))
        await storage.append_event(make_event(2, text="a quick test"))
        assert [e.id for e in await storage.query_events(text="QUICK fox")] == ["e1"]
        assert [e.id for e in await storage.query_events(text="quick")] == ["e1", "e2"]
        assert await storage.query_events(text="quick lazy") == []

    async def test_query_events_text_searches_text_topic_kind_and_tags(
        self, storage: Storage
    ) -> None:
        await storage.append_event(
            make_event(1, text="alpha", topic="beta gamma", kind="delta_kind", tags=["Epsilon"])
        )
        await storage.append_event(make_event(2, text="other"))
        for query in ["alpha", "gamma", "delta_kind", "epsilon", "alpha beta delta_kind epsilon"]:
            assert [e.id for e in await storage.query_events(text=query)] == ["e1"], query

    async def test_query_events_text_matches_whole_words(self, storage: Storage) -> None:
        await storage.append_event(make_event(1, text="food snake_case Über café 東京"))
        for query in ["food", "snake_case", "über", "CAFÉ", "東京"]:
            assert [e.id for e in await storage.query_events(text=query)] == ["e1"], query
        for query in ["foo", "snake", "case", "cafe", "東"]:
            assert await storage.query_events(text=query) == [], query

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ('foo AND "bar', ["e1"]),
            ("NEAR(", ["e2"]),
            ("NEAR(foo bar, 2)", []),
            ("star*", ["e2"]),
            ('say "hello', ["e4"]),
            ("-plain", ["e3"]),
            ("text:plain", ["e3"]),
            ("^foo", ["e1"]),
            ("text OR nothing", []),
            ("NOT", []),
            ("*", ["e1", "e2", "e3", "e4"]),
            (")(", ["e1", "e2", "e3", "e4"]),
            ('"', ["e1", "e2", "e3", "e4"]),
            ("", ["e1", "e2", "e3", "e4"]),
        ],
    )
    async def test_query_events_text_treats_search_syntax_as_plain_words(
        self, storage: Storage, query: str, expected: list[str]
    ) -> None:
        await storage.append_event(make_event(1, text="foo and bar"))
        await storage.append_event(make_event(2, text="near the star"))
        await storage.append_event(make_event(3, text="plain text"))
        await storage.append_event(make_event(4, text='they say "hello"'))
        assert [e.id for e in await storage.query_events(text=query)] == expected

    async def test_query_events_combines_text_with_other_filters_and_limit(
        self, storage: Storage
    ) -> None:
        for n in range(6):
            await storage.append_event(make_event(n, text="match", scope_id=f"s{n % 2}"))
        await storage.append_event(make_event(6, text="other", scope_id="s0"))
        found = await storage.query_events(scope_id="s0", text="match", limit=2)
        assert [e.id for e in found] == ["e2", "e4"]

    async def test_list_logs_returns_the_first_entries_oldest_first(self, storage: Storage) -> None:
        entries = [
            LogEntry("r1", float(n), "INFO", f"m{n}", node_id="n", graph_id="g", extra={"n": n})
            for n in range(5)
        ]
        for entry in entries:
            storage.append_log(entry)
        storage.append_log(LogEntry("r2", 0.0, "ERROR", "elsewhere"))
        assert await storage.list_logs("r1") == entries
        assert await storage.list_logs("r1", limit=2) == entries[:2]
        assert await storage.list_logs("unknown") == []

    async def test_append_log_keeps_every_entry_from_several_threads(
        self, storage: Storage
    ) -> None:
        def log_many(thread: int) -> None:
            for n in range(50):
                storage.append_log(LogEntry("r1", time.time(), "INFO", f"{thread}:{n}"))

        threads = [threading.Thread(target=log_many, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = [e.message for e in await storage.list_logs("r1")]
        assert len(messages) == 400
        for thread in range(8):
            assert [m for m in messages if m.startswith(f"{thread}:")] == [
                f"{thread}:{n}" for n in range(50)
            ]
