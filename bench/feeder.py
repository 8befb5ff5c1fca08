"""Feed leads at a steady rate, round-robin over the bench tenants: through the real intake path (`submit_lead`),
or as bare lead + delivery rows (`--direct`).

Used by the latency scenario in the bench process, or as extra processes (`--feeders K`): one `submit_lead`
costs about 10 ms of CPU on the 2-core bench machine, so one process can't feed much above 60-90 leads/s
while the worker and the sandbox share the cores. As a process:

    python bench/feeder.py --rate R --seconds S --start-at EPOCH --index I --stride K [--direct]

with the bench's DATABASE_URL in the environment; it prints `fed N in S`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seed import BenchTenant


def feed(
    tenants: Sequence[BenchTenant],
    rate: float,
    seconds: float,
    *,
    index: int = 0,
    stride: int = 1,
    start: float = 0.0,
    direct: bool = False,
    first: int = 0,
) -> tuple[int, float]:
    """Add leads at `rate` per second for `seconds` from `start` (epoch; default now); (leads, seconds taken).

    Through `submit_lead`, or with `direct` as bare lead + delivery rows (what is due at each moment in one
    transaction). This feeder's leads are numbered first + index, first + index + stride, ... so parallel feeders
    never collide, nor with leads already there (`first`: the number of leads before feeding, e.g. followed ones).
    """
    import seed

    begin = max(start, time.time())
    time.sleep(max(0.0, begin - time.time()))
    fed = 0
    while (elapsed := time.time() - begin) < seconds:
        due = [first + index + n * stride for n in range(fed, int(elapsed * rate) + 1)]
        if direct:
            seed.insert_due([(number, tenants[number % len(tenants)]) for number in due])
        else:
            for number in due:
                seed.submit(tenants[number % len(tenants)], number)
        fed += len(due)
        time.sleep(max(0.0, begin + fed / rate - time.time()))
    return fed, time.time() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description="Feed leads through submit_lead (a helper of bench/delivery.py).")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("--first", type=int, default=0, help="number the leads from here (leads already there)")
    args = parser.parse_args()
    import django

    django.setup()
    import seed

    fed, seconds = feed(
        seed.load_tenants(),
        args.rate,
        args.seconds,
        index=args.index,
        stride=args.stride,
        start=args.start_at,
        direct=args.direct,
        first=args.first,
    )
    print(f"fed {fed} in {seconds:.3f}", flush=True)


if __name__ == "__main__":
    main()
