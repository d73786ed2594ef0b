"""A read or delivered rate estimated from a polled sample, with its 95 % confidence interval.

The sample is drawn without replacement from a finite audience (``sampling``), so the interval
is the **Wilson score interval with the finite population correction**, then cut to the values
the population can take:

- *Wilson, not Wald.* The textbook p̂ ± z·√(p̂(1−p̂)/n) covers far less than 95 % when p is near
  0 or 1 or n is small, and collapses to a point at p̂ = 0 or 1 (Brown, Cai & DasGupta, "Interval
  Estimation for a Binomial Proportion", Statistical Science 2001). Read rates of announcements
  are often small, and Wilson's interval, which inverts the score test, stays close to its
  nominal coverage there and never leaves [0, 1].
- *Finite population correction.* Without replacement the variance of p̂ is
  p(1−p)/n · (N−n)/(N−1); solving (p̂ − p)² = z²·p(1−p)/n · (N−n)/(N−1) for p is Wilson's
  formula with n replaced by n_eff = n·(N−1)/(N−n). A census (n = N) gives the exact rate.
- *Feasible range.* x of the n sampled recipients read, so at least x and at most N − n + x of
  the N did: the bounds are clipped to [x/N, (N − n + x)/N], which can only help coverage.

An exact interval (inverting the hypergeometric distribution) would be conservative and costlier;
for the sample sizes polled here (hundreds to thousands) Wilson with the correction is accurate,
and ``bench/imrest_sampling.py`` measures its coverage against the simulator's true rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

from worker.messaging.imrest.status import STATUS_RANK, DeliveryStatus

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    """``successes`` of ``sample`` polled recipients, out of an audience of ``population``.

    ``rate`` is the sample proportion, ``low``..``high`` its interval at ``confidence``;
    ``exact`` when everyone was polled, so the rate is a count, not an estimate.
    """

    successes: int
    sample: int
    population: int
    rate: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def exact(self) -> bool:
        return self.sample == self.population

    def covers(self, true_rate: float) -> bool:
        return self.low <= true_rate <= self.high


def proportion_interval(
    successes: int, sample: int, population: int, *, confidence: float = CONFIDENCE
) -> Estimate:
    """Wilson's score interval with the finite population correction (see the module)."""
    if not 0 <= successes <= sample <= population or population == 0:
        raise ValueError("need 0 <= successes <= sample <= population and population > 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if sample == 0:
        return Estimate(0, 0, population, 0.0, 0.0, 1.0, confidence)
    rate = successes / sample
    if sample == population:
        return Estimate(successes, sample, population, rate, rate, rate, confidence)
    z2 = NormalDist().inv_cdf(0.5 + confidence / 2) ** 2
    n = sample * (population - 1) / (population - sample) if population > 1 else sample
    denominator = 1 + z2 / n
    centre = (rate + z2 / (2 * n)) / denominator
    half = math.sqrt(z2) / denominator * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n))
    floor = successes / population
    ceiling = (population - sample + successes) / population
    low = min(max(centre - half, floor), rate)
    high = max(min(centre + half, ceiling), rate)
    return Estimate(successes, sample, population, rate, low, high, confidence)


@dataclass(frozen=True, slots=True)
class RateEstimates:
    """The delivered and read rates of an announcement, from the polled statuses."""

    delivered: Estimate
    read: Estimate


def estimate_rates(
    statuses: Iterable[DeliveryStatus], population: int, *, confidence: float = CONFIDENCE
) -> RateEstimates:
    """Estimates from the last status seen for each polled recipient.

    DELIVERED counts READ too (a message read was delivered). Pass only recipients whose poll
    succeeded: one that could not be polled is missing data, not UNREAD.
    """
    seen = list(statuses)
    delivered = sum(1 for status in seen if STATUS_RANK[status] >= STATUS_RANK["DELIVERED"])
    read = sum(1 for status in seen if status == "READ")
    return RateEstimates(
        delivered=proportion_interval(delivered, len(seen), population, confidence=confidence),
        read=proportion_interval(read, len(seen), population, confidence=confidence),
    )
