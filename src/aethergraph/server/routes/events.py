"""``/runs/{run_id}/events``: a run's event stream, as JSON pages and as Server-Sent Events.

The SSE stream replays what the client has not seen (after ``Last-Event-ID`` or ``after``), then
follows the run live and ends after the run's final event. Each message's ``id`` is the event's
``seq``, so a reconnecting client resumes without gaps or duplicates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from aethergraph.core.engine.events import list_run_events_async, watch_run
from aethergraph.core.engine.runs import get_run_async
from aethergraph.server.problems import Problem

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["router"]

router = APIRouter(tags=["events"])


def _after(after: int, last_event_id: str | None) -> int:
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        seen = int(last_event_id)
    except ValueError as exc:
        raise Problem(
            400, f"Last-Event-ID must be an event seq (an integer), got {last_event_id!r}"
        ) from exc
    return max(after, seen)


@router.get("/runs/{run_id}/events")
async def list_events(
    run_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Events after ``after``, in order; pass ``next_after`` back as ``after`` for more."""
    await get_run_async(run_id)
    events = await list_run_events_async(run_id, after=after, limit=limit)
    return {
        "items": [e.to_json() for e in events],
        "next_after": events[-1].seq if events else after,
    }


async def _messages(run_id: str, after: int) -> AsyncIterator[str]:
    async for event in watch_run(run_id, after=after):
        payload = json.dumps(event.to_json(), separators=(",", ":"))
        yield f"id: {event.seq}\nevent: {event.type}\ndata: {payload}\n\n"


@router.get(
    "/runs/{run_id}/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    run_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: missed events first, then live ones, until the run's final event."""
    await get_run_async(run_id)
    return StreamingResponse(
        _messages(run_id, _after(after, last_event_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
