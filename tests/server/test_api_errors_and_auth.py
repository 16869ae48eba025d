"""Errors are application/problem+json with a detail saying what to fix; a token guards the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from aethergraph import start_server, stop_server

if TYPE_CHECKING:
    from collections.abc import Callable


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    detail: str = body["detail"]
    return detail


@pytest.mark.parametrize(
    "path",
    [
        "/runs/run-nope",
        "/runs/run-nope/nodes",
        "/runs/run-nope/logs",
        "/runs/run-nope/artifacts",
        "/runs/run-nope/memory",
        "/runs/run-nope/events",
        "/runs/run-nope/events/stream",
    ],
)
def test_an_unknown_run_is_a_404_problem(api: httpx.Client, path: str) -> None:
    assert "run-nope" in problem(api.get(path), 404)


def test_an_unknown_graph_is_a_404_problem_suggesting_a_close_name(api: httpx.Client) -> None:
    assert "greet" in problem(api.get("/graphs/gret"), 404)
    assert "greet" in problem(api.post("/graphs/gret/runs", json={"inputs": {}}), 404)


def test_an_unknown_wait_or_artifact_is_a_404_problem(api: httpx.Client) -> None:
    assert "run-x/node/1" in problem(
        api.post("/waits/run-x/node/1/reply", json={"text": "hi"}), 404
    )
    assert "nope" in problem(api.get("/artifacts/nope"), 404)
    assert "nope" in problem(api.get("/artifacts/nope/content"), 404)


def test_inputs_that_fail_the_graphs_check_are_a_422_naming_the_field(
    api: httpx.Client,
) -> None:
    assert "'name'" in problem(api.post("/graphs/greet/runs", json={"inputs": {}}), 422)
    detail = problem(api.post("/graphs/greet/runs", json={"inputs": {"name": "a", "nam": 1}}), 422)
    assert "'nam'" in detail


def test_a_malformed_body_or_query_is_a_422_problem_naming_the_field(api: httpx.Client) -> None:
    assert "inputs" in problem(api.post("/graphs/greet/runs", json={"inputs": [1]}), 422)
    assert "limit" in problem(api.get("/runs", params={"limit": 0}), 422)
    assert "status" in problem(api.get("/runs", params={"status": "sleepy"}), 422)


def test_a_cursor_the_server_did_not_give_is_a_400_problem(api: httpx.Client) -> None:
    assert "cursor" in problem(api.get("/runs", params={"cursor": "garbage!"}), 400)


def test_services_lists_class_path_started_and_health(
    api: httpx.Client, register: Callable[[str, object], object]
) -> None:
    class Healthy:
        async def health(self) -> dict[str, str]:
            return {"status": "ok", "detail": "all good"}

    class Broken:
        async def health(self) -> dict[str, str]:
            raise ConnectionError("database unreachable")

    register("healthy", Healthy())
    register("broken", Broken())
    register("plain", object())
    items = {s["name"]: s for s in api.get("/services").json()["items"]}
    assert items["healthy"]["health"] == {"status": "ok", "detail": "all good"}
    assert items["healthy"]["type"].endswith("Healthy")
    assert items["healthy"]["started"] is True
    assert items["broken"]["health"]["status"] == "error"
    assert "database unreachable" in items["broken"]["health"]["detail"]
    assert items["plain"] == {
        "name": "plain",
        "type": "builtins.object",
        "started": True,
        "health": None,
    }


def test_the_openapi_document_describes_every_route(api: httpx.Client) -> None:
    root = str(api.base_url).removesuffix("/api/v1/")
    paths = httpx.get(f"{root}/openapi.json", timeout=10).json()["paths"]
    expected = {
        "/api/v1/health",
        "/api/v1/graphs",
        "/api/v1/graphs/{graph_id}",
        "/api/v1/graphs/{graph_id}/runs",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/nodes",
        "/api/v1/runs/{run_id}/logs",
        "/api/v1/runs/{run_id}/artifacts",
        "/api/v1/runs/{run_id}/memory",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/resume",
        "/api/v1/runs/{run_id}/events",
        "/api/v1/runs/{run_id}/events/stream",
        "/api/v1/waits",
        "/api/v1/waits/{wait_id}/reply",
        "/api/v1/artifacts/{artifact_id}",
        "/api/v1/artifacts/{artifact_id}/content",
        "/api/v1/services",
    }
    assert expected <= set(paths)


def test_without_the_token_every_api_route_is_a_401_problem() -> None:
    url = start_server(port=0, token="s3cret")
    try:
        for path in ("/health", "/runs", "/graphs", "/waits", "/services", "/runs/x/events/stream"):
            response = httpx.get(f"{url}/api/v1{path}", timeout=10)
            assert "Bearer" in problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = httpx.get(f"{url}/api/v1/runs", headers={"Authorization": "Bearer no"}, timeout=10)
        problem(wrong, 401)
        right = httpx.get(
            f"{url}/api/v1/runs", headers={"Authorization": "Bearer s3cret"}, timeout=10
        )
        assert right.status_code == 200
        # The page itself loads without the token: it asks for it.
        assert httpx.get(f"{url}/ui/", timeout=10).status_code == 200
    finally:
        stop_server()
