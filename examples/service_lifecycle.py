"""Seed section 5: a service that opens an HTTP client in ``start()`` and closes it in ``close()``.

The runtime awaits ``start()`` once, before the first run that can use the service, and ``close()``
when services are closed:

* in async code, runs share the started service until
  ``await aethergraph.runtime.close_services()``;
* a sync ``run()`` (with no server running) closes what it started before it returns.

The tracker's HTTP API is simulated with ``httpx.MockTransport``, so nothing leaves the process;
point ``base_url`` at a real service and drop the transport to talk to it.

Run it: ``python examples/service_lifecycle.py``
"""

import asyncio

import httpx

import aethergraph.runtime
from aethergraph import Service, graph_fn, register_context_service, run, run_async


def fake_tracker_api(request: httpx.Request) -> httpx.Response:
    job_id = request.url.path.rsplit("/", 1)[-1]
    return httpx.Response(200, json={"job_id": job_id, "status": "RUNNING"})


class Tracker(Service):
    def __init__(self) -> None:
        super().__init__()
        self.starts = 0
        self.closes = 0

    async def start(self):
        # e.g., open DB pool or HTTP client
        self.starts += 1
        self._client = httpx.AsyncClient(
            base_url="http://tracker.internal", transport=httpx.MockTransport(fake_tracker_api)
        )
        print(f"  Tracker.start(): HTTP client opened (start #{self.starts})")

    async def close(self):
        # tidy up
        if getattr(self, "_client", None):
            await self._client.aclose()
        self.closes += 1
        print(f"  Tracker.close(): HTTP client closed (close #{self.closes})")

    async def job_status(self, job_id: str) -> str:
        response = await self._client.get(f"/jobs/{job_id}")
        response.raise_for_status()
        return response.json()["status"]


tracker = Tracker()
register_context_service("tracker", tracker)


@graph_fn(name="check_job", outputs=["status"])
async def check_job(job_id: str, *, context):
    status = await context.tracker().job_status(job_id)
    return {"status": status}


async def async_host() -> None:
    for job_id in ("job-1", "job-2", "job-3"):
        out = await run_async(check_job, {"job_id": job_id})
        print(f"  check_job({job_id}) -> {out['status']}")
    print(f"  client closed before close_services(): {tracker._client.is_closed}")
    await aethergraph.runtime.close_services()
    await aethergraph.runtime.close_services()  # idempotent: closes nothing more


def main() -> None:
    print("async: three runs on one loop, then close_services()")
    asyncio.run(async_host())
    print(f"  starts={tracker.starts} closes={tracker.closes}")

    print("sync: run() starts the service and closes it before returning")
    out = run(check_job, {"job_id": "job-4"})
    print(f"  check_job(job-4) -> {out['status']}")
    print(f"  client closed after run(): {tracker._client.is_closed}")
    print(f"  starts={tracker.starts} closes={tracker.closes}")


if __name__ == "__main__":
    main()
