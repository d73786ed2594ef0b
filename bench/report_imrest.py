"""The README's Performance part on IM REST status sampling (``bench.imrest_sampling``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def sampling_section(r: dict[str, Any], load_note: Callable[[dict[str, Any]], str]) -> list[str]:
    f = r["figures"]
    runs = f["runs"]
    # How often a true 95 % interval covers this few times or fewer in ``runs`` runs.
    chance = _at_most(f["read_covered"], runs, 0.95)
    return (
        [
            f"### IM REST status sampling: {f['users']:,} recipients, {runs} runs",
            "",
            f"`{r['command']}` ({load_note(r)}, {r['measured_at']})",
            "",
            "Each run sends one announcement through the pipeline to the IM REST simulator, polls "
            "the uniform sample that `worker/broadcast/polls.py` picks in SQL on a schedule scaled "
            f"down to {', '.join(f'{d:g}' for d in f['schedule_seconds'])} s, and compares the "
            "95 % intervals that `announce show` prints with the simulator's true rates.",
            "",
            "| figure | measured | goal |",
            "| --- | --- | --- |",
            f"| runs whose read interval covered the true read rate | {f['read_covered']}/{runs} "
            "| ≈ 95 % |",
            f"| runs whose delivered interval covered the true delivered rate | "
            f"{f['delivered_covered']}/{runs} | ≈ 95 % |",
            f"| sample (±{f['margin']:g} at p = 0.5) | {f['sample_median']:,} of {f['users']:,} | |",
            f"| mean half-width of the read interval | {f['read_half_width_mean']:.4f} | |",
            f"| poll requests per run, median (max) | {f['poll_requests_median']:,} "
            f"({f['poll_requests_max']:,}) | |",
        ]
        + _share_row(f)
        + [
            "",
            f"An interval that really covers 95 % of the time covers {f['read_covered']} times or "
            f"fewer in {runs} runs with probability {chance:.0%}.",
            "",
        ]
    )


def _share_row(f: dict[str, Any]) -> list[str]:
    if "largest_polls_in_window" not in f:  # results of the bench before it used the pipeline
        return []
    return [
        f"| most polls in any rolling 60 s window (simulator, exact) | "
        f"{f['largest_polls_in_window']:,} | ≤ {f['poll_share_limit']:,} (20 % of "
        f"{f['quota_per_minute']:,}) |"
    ]


def _at_most(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
