"""``/artifacts/{artifact_id}``: an artifact's index entry and its bytes."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from aethergraph.core.engine.history import read_artifact_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.server.problems import Problem

if TYPE_CHECKING:
    from aethergraph.storage.records import Artifact

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])


async def _artifact(artifact_id: str) -> Artifact:
    found = await current_runtime().storage().get_artifact(artifact_id)
    if found is None:
        raise Problem(
            404, f"no artifact {artifact_id!r}; GET /api/v1/runs/{{run_id}}/artifacts lists them"
        )
    return found


def _media_type(artifact: Artifact) -> str:
    if artifact.mime:
        return artifact.mime
    guessed, _ = mimetypes.guess_type(artifact.name or artifact.suggested_uri or "")
    return guessed or "application/octet-stream"


@router.get("/artifacts/{artifact_id}")
async def get_artifact(artifact_id: str) -> dict[str, Any]:
    """The index entry, with the run, graph and node that produced the artifact."""
    artifact = await _artifact(artifact_id)
    body = artifact.to_json()
    body["media_type"] = _media_type(artifact)
    return body


@router.get(
    "/artifacts/{artifact_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 304: {}},
)
async def get_artifact_content(artifact_id: str, request: Request) -> Response:
    """The bytes, with their content type and ``ETag`` = sha256 (``If-None-Match`` is honoured)."""
    artifact = await _artifact(artifact_id)
    etag = f'"{artifact.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    data = await read_artifact_async(artifact_id)
    name = (artifact.name or artifact.id).encode("ascii", "replace").decode().replace('"', "")
    headers["Content-Disposition"] = f'inline; filename="{name}"'
    return Response(data, media_type=_media_type(artifact), headers=headers)
