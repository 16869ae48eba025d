"""``GET /services``: every registered custom service, whether it started, and its health."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from fastapi import APIRouter

from aethergraph.services.runtime.registry import get_ext_context_service, service_infos

__all__ = ["router"]

router = APIRouter(tags=["services"])

_HEALTH_TIMEOUT_S = 5.0


async def _health_of(service: object) -> dict[str, Any] | None:
    check = getattr(service, "health", None)
    if check is None or not inspect.iscoroutinefunction(check):
        return None
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT_S):
            report = await check()
    except TimeoutError:
        return {"status": "error", "detail": f"health() took longer than {_HEALTH_TIMEOUT_S} s"}
    except Exception as exc:  # noqa: BLE001 - a failing health check is reported, not raised
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"}
    if not isinstance(report, dict):
        return {"status": "ok", "detail": report}
    return report


@router.get("/services")
async def list_services() -> dict[str, Any]:
    """Registered services: name, class path, started, and health when they define ``health()``."""
    items = []
    for info in service_infos():
        try:
            service = get_ext_context_service(info.name)
        except AttributeError:
            continue  # unregistered meanwhile
        kind = type(service)
        items.append(
            {
                "name": info.name,
                "type": f"{kind.__module__}.{kind.__qualname__}",
                "started": info.started,
                "health": await _health_of(service),
            }
        )
    return {"items": items}
