"""SPEC §6 over real HTTP: the event stream (JSON pages and SSE) and answering waits."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Messages of an SSE response as ``{"id", "event", "data"}``, data decoded."""
    message: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        message[field] = json.loads(value) if field == "data" else value


def test_events_page_in_order_and_continue_after_next_after(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/arith/runs", json={"inputs": {"a": 1, "b": 1}}).json()["run_id"]
    until(run_id, "succeeded")
    first = api.get(f"/runs/{run_id}/events", params={"limit": 2}).json()
    assert [e["seq"] for e in first["items"]] == [1, 2]
    rest = api.get(f"/runs/{run_id}/events", params={"after": first["next_after"]}).json()
    events = first["items"] + rest["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run_status"
    assert events[-1]["data"]["status"] == "succeeded"
    nodes = [e["data"] for e in events if e["type"] == "node"]
    assert [(n["tool"], n["status"]) for n in nodes if n["status"] == "succeeded"] == [
        ("srv_add", "succeeded"),
        ("srv_double", "succeeded"),
    ]


def test_the_sse_stream_delivers_node_events_in_order_and_ends_with_the_run(
    api: httpx.Client,
) -> None:
    run_id = api.post("/graphs/arith/runs", json={"inputs": {"a": 1, "b": 2}}).json()["run_id"]
    with api.stream("GET", f"/runs/{run_id}/events/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = list(sse(response))
    seqs = [int(m["id"]) for m in messages]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(m["event"] == m["data"]["type"] for m in messages)
    assert messages[-1]["data"]["data"]["status"] == "succeeded"
    assert [m["data"]["data"]["tool"] for m in messages if m["event"] == "node"][-1] == (
        "srv_double"
    )


def test_an_sse_client_reconnecting_with_last_event_id_gets_no_gaps_or_duplicates(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/approval/runs", json={"inputs": {"item": "box"}}).json()["run_id"]
    first: list[dict[str, Any]] = []
    with api.stream("GET", f"/runs/{run_id}/events/stream") as response:
        for message in sse(response):
            first.append(message)
            if message["event"] == "wait_opened":
                break  # the client drops the connection mid-run
    wait = first[-1]["data"]["data"]
    reply = api.post(f"/waits/{wait['wait_id']}/reply", json={"choice": "Ship"})
    assert reply.status_code == 202
    headers = {"Last-Event-ID": first[-1]["id"]}
    with api.stream("GET", f"/runs/{run_id}/events/stream", headers=headers) as response:
        second = list(sse(response))
    seqs = [int(m["id"]) for m in first + second]
    assert seqs == list(range(1, len(seqs) + 1))
    assert second[-1]["data"]["data"]["status"] == "succeeded"
    assert any(m["event"] == "wait_answered" for m in second)
    assert until(run_id, "succeeded")["outputs"] == {"status": "T-box Ship"}


def test_open_waits_are_listed_and_answered_over_http(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/approval/runs", json={"inputs": {"item": "cup"}}).json()["run_id"]
    until(run_id, "waiting")
    waits = api.get("/waits", params={"status": "open", "run_id": run_id}).json()["items"]
    assert len(waits) == 1
    wait = waits[0]
    assert (wait["run_id"], wait["node_id"], wait["prompt"]) == (run_id, "approve", "Ship it?")
    assert wait["options"] == ["Ship", "Hold"]
    assert "/" in wait["wait_id"]  # sent in the path as listed

    response = api.post(f"/waits/{wait['wait_id']}/reply", json={"choice": "Hold"})
    assert response.status_code == 202
    assert until(run_id, "succeeded")["outputs"] == {"status": "T-cup Hold"}
    assert api.get("/waits", params={"status": "open", "run_id": run_id}).json()["items"] == []
    again = api.post(f"/waits/{wait['wait_id']}/reply", json={"choice": "Hold"})
    assert again.status_code == 409


def test_a_choice_that_is_not_an_option_is_a_422_naming_the_options(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/approval/runs", json={"inputs": {"item": "pen"}}).json()["run_id"]
    until(run_id, "waiting")
    wait = api.get("/waits", params={"run_id": run_id, "status": "open"}).json()["items"][0]
    response = api.post(f"/waits/{wait['wait_id']}/reply", json={"choice": "Maybe"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "Ship" in response.json()["detail"]
    assert api.get(f"/runs/{run_id}").json()["status"] == "waiting"
