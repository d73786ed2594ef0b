"""An optional request bucket per `app_id` (spec §6 item 16), answered with HTTP 429.

The real API documents no rate limit; this one counts requests (not targets) so that clients
can be tested against a 429 with `{code: 429, data: null, message}` and a `Retry-After`.
"""

from __future__ import annotations

import math


class RequestBucket:
    """A token bucket: `rate` requests per second, at most `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens: dict[str, float] = {}
        self._updated: dict[str, float] = {}

    def take(self, key: str, now: float) -> float:
        """0 if a request may pass now; otherwise the seconds until one may."""
        tokens = self._tokens.get(key, float(self.burst))
        elapsed = now - self._updated.get(key, now)
        tokens = min(float(self.burst), tokens + elapsed * self.rate)
        self._updated[key] = now
        if tokens >= 1.0:
            self._tokens[key] = tokens - 1.0
            return 0.0
        self._tokens[key] = tokens
        return (1.0 - tokens) / self.rate


def retry_after_header(wait_seconds: float) -> str:
    """`Retry-After` takes whole seconds; round up so a client that obeys it gets through."""
    return str(max(1, math.ceil(wait_seconds)))
