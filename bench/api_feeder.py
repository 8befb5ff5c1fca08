"""Leads through `POST /api/v1/leads` at a steady rate, each retried until the API accepts it.

What an integrator's client does: a 5xx or a dropped connection means "try again later", and the API makes that
safe (the same email in the same campaign returns the lead already made, 200). Every answer that is not an
acceptance is kept by status, and any body that shows a traceback or Django's debug page is kept as evidence:
the web app must answer a plain error page whatever fails behind it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

# What a plain error page never contains: a traceback, Django's debug page, a driver's exception.
LEAK_MARKERS = ("Traceback", "DEBUG = True", "OperationalError", "psycopg", 'File "/', "django.db")
RETRY_PAUSE = 0.5  # seconds between tries of one lead after an error
GIVE_UP_TRIES = 2_000  # a lead the API refuses this many times is counted as not accepted


def leaked(body: str) -> bool:
    return any(marker in body for marker in LEAK_MARKERS)


@dataclass(frozen=True)
class Target:
    """A campaign the leads go to: its id and a referrer's id in it."""

    campaign_id: int
    referrer_id: int
    tag: str  # keeps emails unique across campaigns


@dataclass
class FeedStats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: int = 0
    accepted_at: list[float] = field(default_factory=list)  # time.time() of each acceptance
    refused: int = 0  # gave up: never accepted
    errors: Counter[str] = field(default_factory=Counter)  # status (or exception name) of each failed try
    leaks: list[str] = field(default_factory=list)  # the first bodies that showed a traceback


class Feeder:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        targets: Sequence[Target],
        total: int,
        rate: float,
        threads: int,
        gates: Sequence[int] = (),
    ) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.targets = list(targets)
        self.total = total
        self.rate = rate
        self.stats = FeedStats()
        # Leads from gates[k] on wait for open_gate(k), then go on at the rate from that moment: the run keeps them
        # for a phase (the database restart, the ServiceTitan outage) however late the phases before it ran.
        self.gates = sorted(gates)
        self._gate_open = [threading.Event() for _ in self.gates]
        self._gate_opened = [0.0 for _ in self.gates]
        self._next = 0
        self._next_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def open_gate(self, k: int) -> None:
        self._gate_opened[k] = time.monotonic()
        self._gate_open[k].set()

    def accepted(self) -> int:
        with self.stats.lock:
            return self.stats.accepted

    def _take(self) -> int | None:
        with self._next_lock:
            if self._next >= self.total:
                return None
            n, self._next = self._next, self._next + 1
            return n

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=15.0) as client:
            while (n := self._take()) is not None:
                # Paced by a schedule, not by the answers: leads keep arriving while the app is in trouble.
                time.sleep(max(0.0, self._due(n) - time.monotonic()))
                self._post(client, n)

    def _due(self, n: int) -> float:
        """When lead n goes out (time.monotonic()): its segment's start plus its place in it at the rate."""
        k = sum(1 for gate in self.gates if gate <= n)
        if k == 0:
            return self.started + n / self.rate
        self._gate_open[k - 1].wait()
        return self._gate_opened[k - 1] + (n - self.gates[k - 1]) / self.rate

    def _post(self, client: httpx.Client, n: int) -> None:
        target = self.targets[n % len(self.targets)]
        body = {
            "campaign_id": target.campaign_id,
            "referrer_id": target.referrer_id,
            "first_name": "Chris",
            "last_name": f"Chaos{n}",
            "email": f"chris{n}@{target.tag}.chaos.example",
            "phone": f"512-{n // 10_000 % 1000:03d}-{n % 10_000:04d}",
            "street": "7 Storm St",
            "city": "Austin",
            "state": "TX",
            "zip_code": "78704",
        }
        for _try in range(GIVE_UP_TRIES):
            try:
                answer = client.post("/api/v1/leads", json=body)
            except httpx.HTTPError as error:
                self._failed(type(error).__name__, "")
            else:
                if answer.status_code in (200, 201):
                    with self.stats.lock:
                        self.stats.accepted += 1
                        self.stats.accepted_at.append(time.time())
                    return
                self._failed(str(answer.status_code), answer.text)
                if 400 <= answer.status_code < 500 and answer.status_code != 429:
                    break  # the lead itself is refused: sending it again changes nothing
            time.sleep(RETRY_PAUSE)
        with self.stats.lock:
            self.stats.refused += 1

    def _failed(self, what: str, body: str) -> None:
        with self.stats.lock:
            self.stats.errors[what] += 1
            if leaked(body) and len(self.stats.leaks) < 5:
                self.stats.leaks.append(f"{what}: {body[:300]}")
