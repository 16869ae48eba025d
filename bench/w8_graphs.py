"""The graph W8 runs on Ray workers, which import it by module path (``w8_graphs``)."""

from __future__ import annotations

from aethergraph import graph_fn


@graph_fn(name="w8_trivial")
async def trivial(x: int) -> dict[str, int]:
    return {"y": x + 1}
