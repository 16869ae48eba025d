"""Property-based requests generated from ``/openapi.json`` (Schemathesis) never get a 5xx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import hypothesis
import schemathesis

if TYPE_CHECKING:
    import httpx


def test_generated_requests_never_get_a_server_error(api: httpx.Client) -> None:
    root = str(api.base_url).removesuffix("/api/v1/")
    schema = schemathesis.openapi.from_url(f"{root}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19

    for operation in operations:

        @hypothesis.settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(timeout=10)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text}")
            elif response.status_code >= 400:
                kind = response.headers.get("content-type")  # a list in Schemathesis' response
                assert "application/problem+json" in kind, (case.method, case.path, kind)

        check()
    assert failures == []
