"""``/waits``: questions runs are waiting on, and ``POST /waits/{wait_id}/reply`` to answer one.

A wait id contains ``/`` (``run/node/n``), so the route takes the rest of the path up to
``/reply``. A run live in this process continues at once; a run whose process has gone is
resumed on this server from its checkpoint, in the background: the reply is answered with
``202`` once the answer is accepted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from aethergraph.core.engine.history import list_waits_async
from aethergraph.core.engine.runs import reply_async
from aethergraph.core.engine.runtime import current_runtime
from aethergraph.core.engine.waits import reply_payload
from aethergraph.server.problems import Problem
from aethergraph.storage.records import WaitRecord, WaitStatus

__all__ = ["router"]

router = APIRouter(tags=["waits"])
_log = logging.getLogger(__name__)
_ACCEPT_WINDOW_S = 0.25


class Reply(BaseModel):
    """An answer: free text, or one of the wait's options (by label or number from 1)."""

    text: str | None = Field(default=None, max_length=100_000)
    choice: str | None = Field(default=None, max_length=10_000)


def wait_json(record: WaitRecord) -> dict[str, Any]:
    """A wait as the API shows it."""
    return record.to_json()


@router.get("/waits")
async def list_waits(status: WaitStatus | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Waits, oldest first; ``status=open`` for the ones that still need an answer."""
    waits = await list_waits_async(run_id=run_id, status=status)
    return {"items": [wait_json(w) for w in waits]}


async def _find_open(wait_id: str) -> WaitRecord:
    # Wait ids start with their run's id; a run id chosen with a '/' in it needs the full list.
    run_id = wait_id.split("/", 1)[0]
    candidates = await list_waits_async(run_id=run_id) or await list_waits_async()
    for wait in candidates:
        if wait.wait_id == wait_id:
            if wait.status is not WaitStatus.OPEN:
                raise Problem(
                    409, f"wait {wait_id!r} is {wait.status}, not open; nothing to answer"
                )
            return wait
    raise Problem(404, f"no wait {wait_id!r}; GET /api/v1/waits?status=open lists the open ones")


def _finished(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("a reply could not resume its run", exc_info=task.exception())


@router.post("/waits/{wait_id:path}/reply", status_code=202)
async def reply(wait_id: str, body: Reply) -> dict[str, Any]:
    """Answer an open wait; the run continues on this server.

    A run whose process has gone is resumed here from its checkpoint; the reply is answered as
    soon as the answer is accepted, while the run goes on in the background.
    """
    if body.text is None and body.choice is None:
        raise Problem(422, "a reply needs 'text' or 'choice'")
    wait = await _find_open(wait_id)
    reply_payload(wait, body.text, body.choice)  # a bad choice is a 422 before anything moves
    # The runtime's executor owns the resumed run, and cancels it when the server stops.
    work = reply_async(wait.run_id, text=body.text, choice=body.choice)
    task = current_runtime().executor.background(work)
    done, _ = await asyncio.wait({task}, timeout=_ACCEPT_WINDOW_S)
    if done:
        task.result()  # a refusal (answered elsewhere, graph not loaded) is the client's answer
    else:
        task.add_done_callback(_finished)
    return {"wait_id": wait_id, "run_id": wait.run_id, "status": "answered"}
