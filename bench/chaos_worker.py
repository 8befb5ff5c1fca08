"""`referloop worker` on a compressed clock: the retry schedule divided by REFERLOOP_CHAOS_TIME_SCALE.

bench/chaos.py compresses a 10-minute ServiceTitan outage into seconds; without the same compression of the
retry ladder (10 s, 30 s, 2 min, 10 min, ...) the rows would wait real minutes after it ends. Only the
schedule changes: the engine, the connector and the 24-hour limit are the shipped code. The patch must be in
place before the engine's modules import DEFAULT_POLICY (at `referloop worker`'s start).

    python bench/chaos_worker.py worker [flags]    (as `python -m referloop worker [flags]`)
"""

from __future__ import annotations

import os
from dataclasses import replace

from referloop.integrations.engine import retry


def compress(scale: float) -> None:
    policy = retry.DEFAULT_POLICY
    retry.DEFAULT_POLICY = replace(
        policy, delays=tuple(delay / scale for delay in policy.delays), then_every=policy.then_every / scale
    )


if __name__ == "__main__":
    compress(float(os.environ.get("REFERLOOP_CHAOS_TIME_SCALE", "1")))
    from referloop.__main__ import main

    main()
