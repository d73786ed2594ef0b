"""Delivered and read rates of a sampled announcement, as estimates with a 95 % interval.

A provider that pushes no receipts (IM REST) has its statuses polled; above the bot's sampling
threshold only a uniform random sample of the audience is polled (``worker.broadcast.polls``),
so the counters ``delivered`` and ``read`` count the sample only. What operators read then is the
rate among the recipients the message was sent to, estimated from the polled part of the sample
(Wilson's interval with the finite population correction:
``worker.messaging.imrest.estimate``). An audience polled in full keeps its exact counters, and
nothing here applies to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from worker.messaging.imrest.estimate import CONFIDENCE, Estimate, proportion_interval

_COUNTS = text(
    """
    SELECT count(*) AS sampled,
           count(*) FILTER (WHERE sp.status IN ('UNREAD', 'DELIVERED', 'READ')) AS polled,
           count(*) FILTER (WHERE sp.status IN ('UNREAD', 'DELIVERED', 'READ')
                            AND d.delivered_at IS NOT NULL) AS delivered,
           count(*) FILTER (WHERE sp.status IN ('UNREAD', 'DELIVERED', 'READ')
                            AND d.read_at IS NOT NULL) AS read
    FROM status_polls sp JOIN deliveries d ON d.id = sp.delivery_id
    WHERE sp.announcement_id = :announcement
    """
).bindparams(bindparam("announcement"))


@dataclass(frozen=True)
class StatusEstimates:
    """Rates among the ``population`` recipients the message was sent to, from ``polled`` of
    the ``sampled`` recipients (the uniform sample, sent or not)."""

    population: int
    sampled: int
    polled: int
    delivered: Estimate
    read: Estimate

    @property
    def confidence(self) -> float:
        return self.read.confidence

    def describe(self, what: str) -> str:
        """One line: ``read ≈ 41.2 % (95 % CI 38.9–43.5 %), estimate from 1,800 polled of …``."""
        rate = self.read if what == "read" else self.delivered
        return (
            f"{what} ≈ {rate.rate:.1%} (95 % CI {rate.low:.1%}–{rate.high:.1%}) of "
            f"{self.population:,} sent: estimate from {self.polled:,} polled of a sample of "
            f"{self.sampled:,}"
        )

    def to_json(self) -> dict[str, Any]:
        def rate(e: Estimate) -> dict[str, Any]:
            return {
                "rate": round(e.rate, 6),
                "low": round(e.low, 6),
                "high": round(e.high, 6),
                "successes_in_sample": e.successes,
            }

        return {
            "estimate": True,
            "confidence": self.confidence,
            "population": self.population,
            "sampled": self.sampled,
            "polled": self.polled,
            "delivered": rate(self.delivered),
            "read": rate(self.read),
        }


def status_estimates(
    session: Session, announcement_id: uuid.UUID, *, sent: int, total: int
) -> StatusEstimates | None:
    """The estimates of a sampled announcement; None when its statuses are exact (a Mixin bot,
    an audience polled in full) or not known yet (no sample drawn, nothing sent)."""
    row = session.execute(_COUNTS, {"announcement": announcement_id}).one()
    sampled, polled = int(row.sampled), int(row.polled)
    if sampled == 0 or sampled >= total:
        return None
    population = max(sent, polled)
    if population == 0:
        return None
    return StatusEstimates(
        population=population,
        sampled=sampled,
        polled=polled,
        delivered=proportion_interval(int(row.delivered), polled, population),
        read=proportion_interval(int(row.read), polled, population),
    )


__all__ = ["CONFIDENCE", "StatusEstimates", "status_estimates"]
