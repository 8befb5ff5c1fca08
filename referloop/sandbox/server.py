"""Run the sandbox on a port: `python -m referloop.sandbox.server --port 8700` (or `referloop sandbox`)."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Sequence

import uvicorn

from referloop.sandbox.app import create_app
from referloop.sandbox.config import (
    DEMO_APP_KEY,
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    SandboxConfig,
)


def run(host: str = "127.0.0.1", port: int = 8700, config: SandboxConfig | None = None) -> None:
    """Serve the sandbox until interrupted. Binds to localhost by default: the control API has no auth."""
    app = create_app(config)
    # Start-up objects never become garbage; freezing them keeps collector pauses short, so the sandbox's own
    # per-second rate counting isn't bunched by a 100 ms pause into a false 429.
    gc.freeze()
    # Per-request access lines would swamp the demo's terminal; the bookings page and /_sandbox/stats show traffic.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="referloop sandbox", description="Run the local ServiceTitan API double.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of calls answered 500/503")
    parser.add_argument("--hang-rate", type=float, default=0.0, help="share of calls that wait --hang-seconds")
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--drop-after-create-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=60, help="calls per second per tenant; 0 disables")
    parser.add_argument("--token-lifetime", type=float, default=900.0, help="seconds")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        config = SandboxConfig.demo(
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            error_rate=args.error_rate,
            hang_rate=args.hang_rate,
            hang_seconds=args.hang_seconds,
            drop_after_create_rate=args.drop_after_create_rate,
            rate_limit_per_second=args.rate_limit or None,
            token_lifetime_seconds=args.token_lifetime,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    base = f"http://{args.host}:{args.port}"
    print(
        f"ServiceTitan sandbox on {base} (local use only: /_sandbox/ has no auth)\n"
        f"  tenant {DEMO_TENANT_ID}, client id {DEMO_CLIENT_ID}, client secret {DEMO_CLIENT_SECRET}\n"
        f"  booking provider {DEMO_BOOKING_PROVIDER_ID}, app key {DEMO_APP_KEY}\n"
        f"  bookings page {base}/, knobs {base}/_sandbox/config",
        flush=True,
    )
    run(args.host, args.port, config)


if __name__ == "__main__":
    main()
