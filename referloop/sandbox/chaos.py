"""The random faults and delays the knobs ask for, from one seedable random.Random."""

from __future__ import annotations

import random

from referloop.sandbox.config import SandboxConfig


class Chaos:
    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._random = random.Random(config.seed)

    def reseed(self, seed: int | None) -> None:
        self._random.seed(seed)

    def delay_seconds(self) -> float:
        jitter = self._random.uniform(0, self._config.jitter_ms) if self._config.jitter_ms else 0.0
        return (self._config.latency_ms + jitter) / 1000

    def injected_error(self) -> int | None:
        """500 or 503 for a share `error_rate` of calls, else None."""
        if self._chance(self._config.error_rate):
            return self._random.choice((500, 503))
        return None

    def throttles(self) -> bool:
        return self._chance(self._config.throttle_rate)

    def hangs(self) -> bool:
        return self._chance(self._config.hang_rate)

    def drops_after_create(self) -> bool:
        return self._chance(self._config.drop_after_create_rate)

    def _chance(self, rate: float) -> bool:
        # random() is in [0, 1): rate 0 never fires, rate 1 always does.
        return rate > 0 and self._random.random() < rate
