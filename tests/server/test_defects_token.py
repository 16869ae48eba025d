"""Issue 9, defect 20: server token edge cases end in a clear error or a 401, never a 500."""

from __future__ import annotations

import httpx
import pytest

from aethergraph import start_server, stop_server
from aethergraph.errors import ConfigurationError


@pytest.mark.parametrize("token", ["tökén", "two words", ""])
def test_a_token_an_http_header_cannot_carry_is_refused_at_start(token: str) -> None:
    with pytest.raises(ConfigurationError, match="printable ASCII"):
        start_server(port=0, token=token)


def test_behind_a_token_docs_and_non_ascii_headers_answer_401() -> None:
    url = start_server(port=0, token="s3cret")
    try:
        for path in ("/openapi.json", "/docs"):
            assert httpx.get(f"{url}{path}", timeout=10).status_code == 401
            right = httpx.get(
                f"{url}{path}", headers={"Authorization": "Bearer s3cret"}, timeout=10
            )
            assert right.status_code == 200
        odd = {"Authorization": "Bearer s3crét".encode()}
        answer = httpx.get(f"{url}/api/v1/runs", headers=odd, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("application/problem+json")
    finally:
        stop_server()
