"""Another process on the PostgreSQL database named by ``AETHERGRAPH_DATABASE_URL``.

Usage: ``python postgres_peer.py MODE [ARGS]``.

Modes:
    run              run the graph_fn ``peer_echo``; print ``RUN <run_id>``
    list             print ``RUNS <json list of run ids>`` of the runs in the database
    reply RUN_ID T   ``reply(run_id, text=T)``; print ``REPLIED <time.time() after it returned>``
    save T           run ``peer_save``, which saves T as a text artifact; print ``ARTIFACT <id>``
    read ID          print ``READ <the artifact's text>``
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from aethergraph import graph_fn, run
from aethergraph.runtime import list_runs, read_artifact, reply

if TYPE_CHECKING:
    from aethergraph.core.engine.context import NodeContext


@graph_fn(name="peer_echo")
def peer_echo(word: str) -> dict[str, str]:
    return {"echo": word}


@graph_fn(name="peer_save")
async def peer_save(text: str, *, context: NodeContext) -> dict[str, str]:
    return {"id": (await context.artifacts().save_text(text)).id}


def main() -> None:
    mode = sys.argv[1]
    if mode == "run":
        run(peer_echo, {"word": "from the peer"})
        print("RUN " + list_runs(graph_id="peer_echo")[0].run_id)
    elif mode == "list":
        print("RUNS " + json.dumps([r.run_id for r in list_runs(limit=1000)]))
    elif mode == "reply":
        reply(sys.argv[2], text=sys.argv[3])
        print(f"REPLIED {time.time()!r}")
    elif mode == "save":
        print("ARTIFACT " + run(peer_save, {"text": sys.argv[2]})["id"])
    elif mode == "read":
        print("READ " + read_artifact(sys.argv[2]).decode())


if __name__ == "__main__":
    main()
