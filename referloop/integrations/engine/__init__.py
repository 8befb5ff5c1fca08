"""The delivery engine: claim due deliveries fairly within each tenant's rate budget, send them, write results.

- `claim.claim_due()`        one transaction: due rows across tenants → leased Claims with send times
- `send.send()`              one Claim over HTTP (async) → Result; no database
- `results.write_results()`  a batch of Results in one transaction: Attempts, states, integration health
- `worker.run_worker()`      the asyncio loop tying them together (`referloop worker`)
- `retry`, `ratelimit`, `pacing`: the retry schedule, the shared per-tenant budget, the per-process wire guard
"""
