"""Retry policy: capped exponential backoff with jitter, bounded in attempts (DESIGN invariant 7)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 60.0

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after ``attempt`` failures (>= 1).

        "Equal jitter": half the capped exponential step is fixed, half is random, so retries of
        many batches that failed together spread out instead of stampeding back at once.
        """
        step = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        return step / 2 + (rng or random).uniform(0, step / 2)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
