"""The 95 % interval of a rate estimated from a sample of a finite audience (Wilson + FPC)."""

from __future__ import annotations

import pytest

from worker.messaging.imrest.estimate import estimate_rates, proportion_interval
from worker.messaging.imrest.sampling import choose_sample

HUGE = 10**12  # a population so large that the finite population correction vanishes
Z = 1.959963984540054


@pytest.mark.parametrize(
    ("successes", "sample", "low", "high"),
    [
        # Wilson score intervals as tabulated (e.g. Newcombe 1998, Brown-Cai-DasGupta 2001).
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_known_values(successes: int, sample: int, low: float, high: float) -> None:
    estimate = proportion_interval(successes, sample, HUGE)
    assert estimate.low == pytest.approx(low, abs=1e-4)
    assert estimate.high == pytest.approx(high, abs=1e-4)
    assert estimate.rate == successes / sample and not estimate.exact


def test_the_finite_population_correction_narrows_the_interval() -> None:
    # By hand: N = 20, n = 10, f = (N-n)/(N-1) = 10/19, n_eff = 19, p = 0.8, z = 1.96:
    # centre 0.7495, half 0.1716 -> [0.5779, 0.9212]; and at most N - n + x = 18 of 20 read,
    # so the top is cut to 0.9.
    estimate = proportion_interval(8, 10, 20)
    assert estimate.low == pytest.approx(0.5779, abs=1e-4)
    assert estimate.high == pytest.approx(0.9, abs=1e-12)


def test_the_bounds_solve_the_corrected_score_equation() -> None:
    # (p̂ - p)² = z² p (1 - p) / n · (N - n)/(N - 1) at both ends (none of them cut here).
    x, n, population = 300, 1000, 50_000
    estimate = proportion_interval(x, n, population)
    f = (population - n) / (population - 1)
    for bound in (estimate.low, estimate.high):
        assert (x / n - bound) ** 2 == pytest.approx(Z * Z * bound * (1 - bound) / n * f)


def test_a_census_is_exact() -> None:
    estimate = proportion_interval(700, 2000, 2000)
    assert estimate.exact and estimate.low == estimate.high == estimate.rate == 0.35


def test_no_sample_says_nothing() -> None:
    estimate = proportion_interval(0, 0, 50_000)
    assert (estimate.low, estimate.high) == (0.0, 1.0)


@pytest.mark.parametrize(("x", "n", "population"), [(-1, 10, 20), (11, 10, 20), (5, 30, 20)])
def test_impossible_counts_are_refused(x: int, n: int, population: int) -> None:
    with pytest.raises(ValueError, match="successes <= sample <= population"):
        proportion_interval(x, n, population)


def test_delivered_counts_read_messages_too() -> None:
    rates = estimate_rates(["SENT", "DELIVERED", "READ", "READ"], population=4)
    assert (rates.delivered.successes, rates.read.successes) == (3, 2)
    assert rates.read.exact and rates.read.rate == 0.5


def test_the_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    # An audience of 3,000 of which 900 read; 200 samples of 300 chosen as the pipeline does.
    audience = range(3000)
    readers = set(range(0, 3000, 10)) | set(range(1, 3000, 5))  # 300 + 600 = 900
    truth = len(readers) / 3000
    covered = 0
    for seed in range(200):
        sample = choose_sample(audience, 300, f"seed-{seed}")
        read = sum(1 for recipient in sample if recipient in readers)
        covered += proportion_interval(read, len(sample), 3000).covers(truth)
    assert 180 <= covered <= 198  # 95 % of 200 is 190; binomial sd ~3
