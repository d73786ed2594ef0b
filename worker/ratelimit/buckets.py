"""Token buckets shared by every worker through Redis: take, wait, slow down, inspect.

``TokenBuckets`` is the only door to the buckets. It holds no state of its own; every call runs
one Lua script (:mod:`worker.ratelimit.scripts`) that refills from Redis' ``TIME`` and changes all
the buckets it names at once. Workers on any number of hosts therefore share one clock and one
count, and no two of them can spend the same token.

Fail closed: a Redis error (refused, timed out, read-only replica, ...) propagates from every
method. No code path grants tokens that Redis did not grant, so an outage stops sending rather
than letting it run unmetered.

Costs above a burst. ``try_take`` grants ``cost`` tokens from a bucket holding at least
``min(cost, burst)``; a cost above the burst is thus granted only when the bucket is full and
leaves it in debt (``burst − cost`` tokens) that refill repays before anything else is granted.
The long-run rate is unchanged, and the window bound of that bucket becomes
``max(burst, cost) + rate·window``: a batch is indivisible, so a window may hold all of it. The
sender splits batches to ``max_cost(specs)``, every bucket's send unit, so no bucket goes into
debt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from worker.ratelimit import scripts
from worker.ratelimit.specs import BucketSpec

# After a 429 the rate is halved, never below this share of the nominal rate ...
DEFAULT_PENALTY_FLOOR = 0.05
# ... and climbs back linearly by this share per window (from one halving: two windows).
DEFAULT_RECOVERY_PER_WINDOW = 0.25
# 429s within this many seconds of a penalty are echoes of the same overload.
DEFAULT_PENALTY_COOLDOWN_SECONDS = 1.0


@dataclass(frozen=True)
class Attempt:
    """The outcome of one atomic attempt to take tokens.

    ``wait_seconds`` is 0.0 when the tokens were taken, else how long until every bucket would
    hold enough at its current rate. ``redis_time`` is the instant of the decision on Redis'
    clock (seconds since the epoch), the clock the window bound is kept on.
    """

    taken: bool
    wait_seconds: float
    redis_time: float


def max_cost(specs: Sequence[BucketSpec]) -> int:
    """The most messages one request should take from ``specs``: every bucket's send unit.

    Requests of at most this many messages never put a bucket into debt (a unit is at most the
    burst), and leave each bucket the lateness headroom that keeps its rate used.
    """
    if not specs:
        raise ValueError("max_cost needs at least one BucketSpec")
    return min(spec.send_unit for spec in specs)


class TokenBuckets:
    """Token buckets in one Redis, taken atomically on Redis' clock.

    The caller owns the connection; ``penalty_floor``, ``recovery_per_window`` and
    ``penalty_cooldown_seconds`` tune the reaction to 429s and should be the same in every
    worker (they are the defaults unless configured).
    """

    def __init__(
        self,
        redis: redis.Redis,
        *,
        penalty_floor: float = DEFAULT_PENALTY_FLOOR,
        recovery_per_window: float = DEFAULT_RECOVERY_PER_WINDOW,
        penalty_cooldown_seconds: float = DEFAULT_PENALTY_COOLDOWN_SECONDS,
    ) -> None:
        if not 0 < penalty_floor <= 1:
            raise ValueError(f"penalty_floor must be in (0, 1], got {penalty_floor!r}")
        if not (math.isfinite(recovery_per_window) and recovery_per_window > 0):
            raise ValueError(f"recovery_per_window must be positive, got {recovery_per_window!r}")
        if not (math.isfinite(penalty_cooldown_seconds) and penalty_cooldown_seconds >= 0):
            raise ValueError(
                f"penalty_cooldown_seconds must be >= 0, got {penalty_cooldown_seconds!r}"
            )
        self._penalty_floor = penalty_floor
        self._recovery_per_window = recovery_per_window
        self._penalty_cooldown_seconds = penalty_cooldown_seconds
        # Script objects run EVALSHA and reload the script after a SCRIPT FLUSH or a restart.
        self._take = redis.register_script(scripts.TAKE)
        self._penalize = redis.register_script(scripts.PENALIZE)
        self._level = redis.register_script(scripts.LEVEL)

    def attempt(
        self, specs: Sequence[BucketSpec], cost: int, *, costs: Sequence[int] | None = None
    ) -> Attempt:
        """Take ``cost`` tokens from every bucket of ``specs``, or from none, in one atomic step.

        ``costs`` gives each bucket its own cost instead (a bot whose quota counts requests,
        under a cap that counts messages).

        A bucket lends a cost above its burst once it is full (see the module docstring).
        Raises ``ValueError`` for an empty or duplicated ``specs`` or a cost below 1, and lets
        every Redis error through: nothing is granted unless Redis granted it.
        """
        return self._run_take(specs, cost, "take", costs)

    def wait_seconds(self, specs: Sequence[BucketSpec], cost: int) -> float:
        """Seconds until ``cost`` tokens would be available in every bucket; takes nothing.

        For a caller that gave up on ``take`` and wants to say when to come back: calling
        ``try_take`` for that would take the tokens whenever they happened to be there.
        """
        return self._run_take(specs, cost, "peek").wait_seconds

    def try_take(self, specs: Sequence[BucketSpec], cost: int) -> float:
        """Take ``cost`` tokens from all of ``specs`` or none; 0.0 if taken, else seconds to wait."""
        return self.attempt(specs, cost).wait_seconds

    def take(self, specs: Sequence[BucketSpec], cost: int, *, timeout: float) -> bool:
        """Take ``cost`` tokens, sleeping as told between attempts, for at most ``timeout`` seconds.

        Returns False without sleeping when the next wait would end after the deadline, so a
        worker learns at once that it should hand its batch back rather than hold it.
        """
        deadline = time.monotonic() + timeout
        while True:
            attempt = self.attempt(specs, cost)
            if attempt.taken:
                return True
            if time.monotonic() + attempt.wait_seconds > deadline:
                return False
            time.sleep(attempt.wait_seconds)

    def _run_take(
        self,
        specs: Sequence[BucketSpec],
        cost: int,
        mode: str,
        costs: Sequence[int] | None = None,
    ) -> Attempt:
        each = list(costs) if costs is not None else [cost] * len(specs)
        if len(each) != len(specs):
            raise ValueError(f"{len(each)} costs for {len(specs)} buckets")
        if any(c < 1 for c in each):
            raise ValueError(f"cost must be at least 1 token, got {min(each)!r}")
        if not specs:
            raise ValueError("taking tokens needs at least one BucketSpec")
        keys = [spec.key for spec in specs]
        if len(set(keys)) != len(keys):
            # The script would debit a repeated key twice and check it once.
            raise ValueError(f"each bucket may appear once per call, got keys {keys}")
        args: list[float | int | str] = [0, self._recovery_per_window, mode]
        for spec, spec_cost in zip(specs, each, strict=True):
            args += [spec.rate_per_second, spec.burst, spec.window_seconds, spec_cost]
        taken, wait, now = self._take(keys=keys, args=args)
        return Attempt(taken=int(taken) == 1, wait_seconds=float(wait), redis_time=float(now))

    def penalize(self, spec: BucketSpec) -> float:
        """Slow ``spec``'s bucket after the provider answered 429; returns the rate factor now.

        Halves the effective rate (not below ``penalty_floor``) and drops any saved tokens, for
        every worker at once since the factor lives in Redis. The rate then climbs back to the
        nominal one by ``recovery_per_window`` per window. 429s within the cooldown of the last
        penalty are echoes of it and change nothing.
        """
        args: list[float | int] = [
            self._recovery_per_window,
            self._penalty_floor,
            self._penalty_cooldown_seconds,
            spec.rate_per_second,
            spec.burst,
            spec.window_seconds,
        ]
        _applied, factor = self._penalize(keys=[spec.key], args=args)
        return float(factor)

    def level(self, spec: BucketSpec) -> tuple[float, float]:
        """``(tokens now, effective rate per second now)`` of ``spec``'s bucket, for metrics.

        Reads only. A bucket that Redis does not hold reads as empty at the nominal rate, which
        is how the next ``try_take`` will treat it.
        """
        args: list[float | int] = [
            self._recovery_per_window,
            spec.rate_per_second,
            spec.burst,
            spec.window_seconds,
        ]
        tokens, rate = self._level(keys=[spec.key], args=args)
        return float(tokens), float(rate)
