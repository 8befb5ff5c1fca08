"""A worker whose follower jobs are timed: `bench/delivery.py <scenario> --worker-script bench/timed_follower.py`.

Wraps, in the worker process, the follower's database jobs (`store.claim`, `store.apply`), its spare-slot
look-ups (`ratelimit.take_spare_slot`, summed per second) and the parsing of its list answers
(`calls.read_result` for GETs), then runs the worker as usual. One line per job goes to the worker's log
(`--keep-logs` keeps it):

    TIMED <epoch> apply wall 65.3 ms cpu 61.2 ms
    SPARE <epoch second> calls 20 none 0 wall 13 ms

`claim` and `apply` run on the worker's one database thread, between the deliveries' claims and result writes,
so their wall time is time that thread gives the deliveries nothing. Measuring only: nothing is changed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class SpareTally:
    """take_spare_slot is called every 50 ms per waiting cycle: summed per second, not one line each."""

    def __init__(self) -> None:
        self.second, self.calls, self.none, self.wall = 0, 0, 0, 0.0

    def add(self, wall_ms: float, refused: bool) -> None:
        now = int(time.time())
        if now != self.second:
            if self.calls:
                log(f"SPARE {self.second} calls {self.calls} none {self.none} wall {self.wall:.0f} ms")
            self.second, self.calls, self.none, self.wall = now, 0, 0, 0.0
        self.calls += 1
        self.none += int(refused)
        self.wall += wall_ms


def timed(module: ModuleType, name: str, spare: SpareTally) -> None:
    inner: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        result = inner(*args, **kwargs)
        wall, used = 1000 * (time.perf_counter() - start), 1000 * (time.thread_time() - cpu)
        if name == "take_spare_slot":
            spare.add(wall, result is None)
        elif name == "read_result":
            if args[0].method == "GET":  # the follower's lists (a create's answer is the deliveries')
                what = args[0].path.rsplit("/", 1)[-1]
                log(f"TIMED {time.time():.3f} parse {what} {len(args[1].text)} B wall {wall:.1f} ms cpu {used:.1f} ms")
        else:
            log(f"TIMED {time.time():.3f} {name} wall {wall:.1f} ms cpu {used:.1f} ms")
        return result

    setattr(module, name, wrapper)


def main() -> None:
    import django

    django.setup()
    from referloop.integrations.engine import ratelimit
    from referloop.integrations.servicetitan.follower import store
    from referloop.providers.servicetitan import calls

    spare = SpareTally()
    timed(store, "claim", spare)  # the runner calls store.claim / store.apply through the module: patched there
    timed(store, "apply", spare)
    timed(ratelimit, "take_spare_slot", spare)
    timed(calls, "read_result", spare)
    from referloop.__main__ import main as referloop_main

    referloop_main()


if __name__ == "__main__":
    main()
