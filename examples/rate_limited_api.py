"""Seed section 4A: protect a service's shared state with its per-instance mutex, ``critical``.

The tutorial's two class-body sketches (``@Service.critical(self)`` and a bare ``@critical``) are
not valid Python; these are the three forms that work, all using the same per-instance lock:

* ``self.call = self.critical()(self.call)`` in ``__init__``
* ``@Service.critical`` on the method in the class body
* ``@Service.critical()`` on the method in the class body

Each API gets 20 concurrent calls from one graph_fn. With the lock, the calls run one at a time
(at most 1 in flight) and the budget drops by exactly 20; the unlocked API lets all 20 in at once.

Run it: ``python examples/rate_limited_api.py``
"""

import asyncio
import time

from aethergraph import Service, graph_fn, register_context_service, run


class RateLimitedAPI(Service):
    """A budget of 100 calls to a remote API; ``call`` spends one."""

    def __init__(self) -> None:
        super().__init__()
        self._remaining = 100
        self.in_flight = 0
        self.max_in_flight = 0

    async def call(self, payload: dict) -> dict:
        if self._remaining <= 0:
            raise RuntimeError("rate limit exceeded")
        self._remaining -= 1
        return await self._do_http_call(payload)

    async def _do_http_call(self, payload: dict) -> dict:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)  # the network round trip
            return {"echo": payload}
        finally:
            self.in_flight -= 1


class LockedInInit(RateLimitedAPI):
    """Form 1: wrap the bound method once the instance exists."""

    def __init__(self) -> None:
        super().__init__()
        self.call = self.critical()(self.call)


class LockedByDecorator(RateLimitedAPI):
    """Form 2: ``@Service.critical`` in the class body."""

    @Service.critical
    async def call(self, payload: dict) -> dict:
        # This body runs under a mutex
        if self._remaining <= 0:
            raise RuntimeError("rate limit exceeded")
        self._remaining -= 1
        return await self._do_http_call(payload)


class LockedByFactory(RateLimitedAPI):
    """Form 3: ``@Service.critical()`` in the class body."""

    @Service.critical()
    async def call(self, payload: dict) -> dict:
        # This body runs under a mutex
        if self._remaining <= 0:
            raise RuntimeError("rate limit exceeded")
        self._remaining -= 1
        return await self._do_http_call(payload)


APIS = {
    "api_unlocked": RateLimitedAPI(),
    "api_init": LockedInInit(),
    "api_decorator": LockedByDecorator(),
    "api_factory": LockedByFactory(),
}
for name, service in APIS.items():
    register_context_service(name, service)


@graph_fn(name="hammer_api")
async def hammer_api(service: str, calls: int, *, context):
    api = getattr(context, service)()
    started = time.perf_counter()
    replies = await asyncio.gather(*(api.call({"i": i}) for i in range(calls)))
    return {
        "replies": len(replies),
        "remaining": api._remaining,
        "max_in_flight": api.max_in_flight,
        "seconds": round(time.perf_counter() - started, 3),
    }


def main() -> None:
    print("20 concurrent calls per API (budget 100, 10 ms per call):")
    for name in APIS:
        out = run(hammer_api, {"service": name, "calls": 20})
        print(
            f"  {name:<14} replies={out['replies']} remaining={out['remaining']} "
            f"max_in_flight={out['max_in_flight']} took={out['seconds']:.2f}s"
        )


if __name__ == "__main__":
    main()
