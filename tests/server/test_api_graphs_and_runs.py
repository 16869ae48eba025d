"""SPEC §6 over real HTTP: graphs, starting runs (202), listing and reading runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx


def test_health_names_the_version_and_the_workspace(api: httpx.Client) -> None:
    body = api.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["workspace"]


def test_graphs_lists_graph_fns_and_task_graphs_with_their_inputs(api: httpx.Client) -> None:
    items = {g["graph_id"]: g for g in api.get("/graphs").json()["items"]}
    assert items["greet"]["kind"] == "graph_fn"
    assert items["greet"]["inputs"] == [{"name": "name", "required": True}]
    assert items["greet"]["outputs"] == ["greeting"]
    assert "Greet someone" in items["greet"]["description"]
    assert items["arith"]["kind"] == "graphify"
    assert [i["name"] for i in items["arith"]["inputs"]] == ["a", "b"]


def test_one_task_graph_comes_with_its_nodes_and_edges(api: httpx.Client) -> None:
    body = api.get("/graphs/arith").json()
    nodes = {n["id"]: n["tool"] for n in body["spec"]["nodes"]}
    assert sorted(nodes.values()) == ["srv_add", "srv_double"]
    assert len(body["spec"]["edges"]) == 1


def test_starting_a_run_answers_202_at_once_and_the_run_completes(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    response = api.post("/graphs/arith/runs", json={"inputs": {"a": 2, "b": 3}})
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    assert response.json()["status"] in {"running", "succeeded"}  # never "interrupted"
    run = until(run_id, "succeeded", "failed")
    assert run["status"] == "succeeded"
    assert run["outputs"] == {"result": 10}
    assert run["inputs"] == {"a": 2, "b": 3}
    assert run["updated_at"] >= run["created_at"]
    nodes = api.get(f"/runs/{run_id}/nodes").json()["items"]
    assert {n["tool"]: n["status"] for n in nodes} == {
        "srv_add": "succeeded",
        "srv_double": "succeeded",
    }
    assert all(n["duration_ms"] is not None for n in nodes)


def test_a_started_run_keeps_the_given_run_id_and_session(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    body = {"inputs": {"x": 4}, "run_id": "run-chosen", "session_id": "s-1"}
    assert api.post("/graphs/trivial/runs", json=body).json()["run_id"] == "run-chosen"
    run = until("run-chosen", "succeeded")
    assert run["session_id"] == "s-1"
    assert run["outputs"] == {"x": 4}


def test_logs_memory_and_artifacts_of_a_run_are_readable(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/greet/runs", json={"inputs": {"name": "Ada"}}).json()["run_id"]
    until(run_id, "succeeded")
    logs = api.get(f"/runs/{run_id}/logs").json()["items"]
    assert any(entry["message"] == "greeting Ada" for entry in logs)
    memory = api.get(f"/runs/{run_id}/memory").json()["items"]
    assert [(m["kind"], m["data"]) for m in memory] == [("greeting", {"name": "Ada"})]
    artifacts = {a["name"]: a for a in api.get(f"/runs/{run_id}/artifacts").json()["items"]}
    assert set(artifacts) == {"greeting.txt", "greeting.json"}

    text = artifacts["greeting.txt"]
    meta = api.get(f"/artifacts/{text['id']}").json()
    assert (meta["run_id"], meta["graph_id"]) == (run_id, "greet")
    content = api.get(f"/artifacts/{text['id']}/content")
    assert content.content == b"hello Ada"
    assert content.headers["content-type"].startswith("text/plain")
    assert content.headers["etag"] == f'"{text["sha256"]}"'
    cached = api.get(
        f"/artifacts/{text['id']}/content", headers={"If-None-Match": content.headers["etag"]}
    )
    assert cached.status_code == 304
    as_json = api.get(f"/artifacts/{artifacts['greeting.json']['id']}/content")
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == {"name": "Ada"}


def test_runs_page_through_250_runs_newest_first_without_gaps_while_runs_arrive(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:

    started = [
        api.post("/graphs/trivial/runs", json={"inputs": {"x": i}}).json()["run_id"]
        for i in range(250)
    ]
    until(started[-1], "succeeded")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 40, "graph_id": "trivial"}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/runs", params=params).json()
        seen += [r["run_id"] for r in page["items"]]
        pages += 1
        if pages == 2:  # newer runs arrive while the client pages
            for i in range(3):
                api.post("/graphs/trivial/runs", json={"inputs": {"x": 1000 + i}})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 7
    assert seen == list(reversed(started))


def test_runs_filter_by_status_and_graph(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    ok = api.post("/graphs/trivial/runs", json={"inputs": {}}).json()["run_id"]
    bad = api.post("/graphs/breaks/runs", json={"inputs": {"reason": "x"}}).json()["run_id"]
    until(ok, "succeeded")
    until(bad, "failed")
    failed = api.get("/runs", params={"status": "failed"}).json()["items"]
    assert [r["run_id"] for r in failed] == [bad]
    assert "exploded: x" in failed[0]["error"]
    by_graph = api.get("/runs", params={"graph_id": "trivial"}).json()["items"]
    assert [r["run_id"] for r in by_graph] == [ok]


def test_a_slow_run_can_be_cancelled_and_never_blocks_the_api(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/slow/runs", json={"inputs": {"seconds": 30}}).json()["run_id"]
    until(run_id, "running")
    assert api.get("/health", timeout=1).status_code == 200
    response = api.post(f"/runs/{run_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert until(run_id, "cancelled")["status"] == "cancelled"


def test_a_failed_task_graph_run_resumes_and_skips_what_finished(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/breaks/runs", json={"inputs": {"reason": "once"}}).json()["run_id"]
    until(run_id, "failed")
    assert api.post(f"/runs/{run_id}/resume").status_code == 202
    # The tool still raises: the resumed run fails again, having retried only that node.
    run = until(run_id, "failed")
    assert "exploded: once" in run["error"]
    nodes = {n["tool"]: n for n in api.get(f"/runs/{run_id}/nodes").json()["items"]}
    assert nodes["srv_add"]["attempts"] == 1


def test_resuming_a_succeeded_run_is_a_409_problem(
    api: httpx.Client, until: Callable[..., dict[str, Any]]
) -> None:
    run_id = api.post("/graphs/trivial/runs", json={"inputs": {}}).json()["run_id"]
    until(run_id, "succeeded")
    response = api.post(f"/runs/{run_id}/resume")
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]
