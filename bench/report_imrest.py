"""The README's IM REST figures (``bench.report`` calls these): the request budget shared by
sending and polling, capacity with the budget lifted, status sampling (``bench.imrest_sampling``)
and the IM REST fault campaign."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def quota_imrest_section(r: dict[str, Any], note: str, met: Any) -> list[str]:
    f = r["figures"]
    a = f["announcement"]
    return [
        f"### Request budget of an IM REST bot: {f['recipients']:,} recipients at "
        f"{f['budget_requests_per_minute']:,} requests per minute",
        "",
        f"`{r['command']}` ({note}, {r['measured_at']}); status polls "
        f"{f['poll_delays']} s after each batch, audiences above 2,000 polled through a sample.",
        "",
        "| figure | measured | goal |",
        "| --- | --- | --- |",
        f"| share of the budget used, first to last second (sends and polls) | "
        f"{f['share_of_budget']:.2%} over {f['steady_seconds']} s | ≥ 97 % |",
        f"| of which sends / status polls | {f['send_share_of_budget']:.2%} / "
        f"{f['poll_share_of_budget']:.2%} ({f['poll_requests']:,} polls) | polls ≤ 20 % |",
        f"| largest count of requests in any rolling 60 s (simulator, exact) | "
        f"{f['largest_rolling_60s']:,} | ≤ {f['budget_requests_per_minute']:,} |",
        f"| 429s from the simulator | {f['rate_limited_429']} | 0 |",
        f"| copies of the message per user (simulator) | {f['copies']} | "
        f"{{'1': {f['recipients']:,}}} |",
        f"| sent, failed, fate unknown (Postgres) | {a['sent']:,}, {a['failed']}, {a['unknown']} "
        "| |",
        f"| time to complete | {f['seconds_to_complete']} s | |",
        "",
        f"Goal {met(f['met'])}.",
        "",
        "![requests per second by kind against the budget](bench/results/quota_imrest.png)",
        "",
    ]


def capacity_imrest_section(r: dict[str, Any], note: str) -> list[str]:
    f = r["figures"]
    per = ", ".join(f"{name} {us}" for name, us in f["cpu_us_per_recipient"].items())
    return [
        "### Capacity of an IM REST bot: the budget lifted",
        "",
        f"`{r['command']}` ({note}, {r['measured_at']}): {f['recipients']:,} recipients, one "
        f"send worker with {f['concurrency']} processes, the IM REST simulator in the bench "
        "process.",
        "",
        f"**{f['recipients_per_second']:,} recipients/s** end to end "
        f"({f['requests_per_second']:,} requests/s of 100 targets), {f['cores_busy']} cores busy; "
        f"copies per user {f['copies']}. CPU per recipient by component (µs): {per}.",
        "",
        "At the spec's assumed budget of 10 requests a second (1,000 recipients a second) the "
        "budget binds long before blazecast does. The send workers spend "
        f"{f['cpu_us_per_recipient'].get('send workers', 0) / 10:.1f} ms of CPU per request of 100 "
        "targets: one HTTP request through `requests`, its JSON, and five statements (lease, "
        "status, the attempt noted before it leaves, sent, finish).",
        "",
    ]


def faults_imrest_section(r: dict[str, Any], note: str) -> list[str]:
    lines = [
        "### Fault campaign against the IM REST simulator",
        "",
        f"`{r['command']}` (seed {r['seed']}; {note}, {r['measured_at']}). Each scenario is a "
        "50,000-recipient broadcast of an IM REST bot at 600 requests a minute through two send "
        "workers, the control worker and beat, a dead worker's batch re-queued after 10 s. It "
        "must end with every user's copy count exactly 1 (the simulator's count), users unknown "
        "to the server failed and only they, no fate left unknown, counters equal to the rows, "
        "and no 60 s window above the budget.",
        "",
        "| scenario | served once | time (× fault-free) | attempts per batch (worst) | repeats deduplicated | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in r.get("scenarios", []):
        if row.get("seconds_to_complete") is None:
            lines.append(f"| {row['scenario']} | **did not finish** | | | | {row['problems'][0][:300]} |")
            continue
        notes = []
        if row["faults_injected"]:
            notes.append("injected " + ", ".join(f"{k} {v}" for k, v in row["faults_injected"].items()))
        if row["blocked"]:
            notes.append(f"{row['blocked']} unknown users failed")
        notes += [e.split(" ", 1)[1] for e in row["events"]][:2]
        notes += row["problems"]
        served = "yes" if not row["problems"] else "**no**"
        lines.append(
            f"| {row['scenario']} | {served} | {row['seconds_to_complete']} s "
            f"({row.get('time_vs_fault_free', '?')}×) | {row['attempts_per_batch']} "
            f"({row['worst_batch_attempts']}) | {row['dedup_hits']} | {'; '.join(notes)} |"
        )
    lines.append("")
    return lines


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
