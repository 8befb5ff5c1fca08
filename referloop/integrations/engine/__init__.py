"""The delivery engine: claim due deliveries fairly within each rate key's budget, send them, write results.

It knows no destination: each claimed row goes to its connector (`providers/base.py`) through its destination
kind (`integrations/destinations.py`); see docs/delivery-engine.md.

- `claim.claim_due()`        one transaction: due rows across rate keys → leased Claims with send times
- `send.send()`              one Claim through its connector (async) → Result; no database
- `results.write_results()`  a batch of Results in one transaction: Attempts, states, each kind's health
- `worker.run_worker()`      the asyncio loop tying them together (`referloop worker`)
- `queries`                  every raw SQL statement of the engine, named, with named rows
- `retry`, `ratelimit`, `pacing`: the retry schedule, the shared per-key budget, the per-process wire guard
"""
