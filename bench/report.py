"""Write the README's Performance section from the latest ``bench/results/*.json``.

    .venv/bin/python -m bench.report          # rewrites the text between the section markers

Only the text between ``<!-- section:performance -->`` and ``<!-- /section:performance -->`` is
replaced. Every figure comes from a results file, next to the command that produced it and the
machine's load average while it ran; the prose says which goals were met and which were not.
"""

from __future__ import annotations

import json
from typing import Any

from bench.harness.results import BENCH, RESULTS, history
from bench.report_bots import bots_section
from bench.report_history import history_section
from bench.report_imrest import (
    capacity_imrest_section,
    faults_imrest_section,
    quota_imrest_section,
    sampling_section,
)

README = BENCH.parent / "README.md"
START, END = "<!-- section:performance -->", "<!-- /section:performance -->"


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def met(flag: object) -> str:
    return "**met**" if flag else "**not met**"


def load_note(result: dict[str, Any]) -> str:
    before = result.get("machine_before", {}).get("loadavg", ["?"])[0]
    after = result.get("machine_after", {}).get("loadavg", ["?"])[0]
    return (
        f"load average {before} → {after} on {result.get('machine_before', {}).get('cpus')} cores"
    )


def quota_section(r: dict[str, Any]) -> list[str]:
    f = r["figures"]
    return [
        "### Quota use: 200,000 recipients at 100,000 messages per minute",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']})",
        "",
        "| figure | measured | goal |",
        "| --- | --- | --- |",
        f"| share of the quota sustained, first to last second | {f['share_of_quota']:.2%} "
        f"({f['steady_rate_per_second']:,} msg/s over {f['steady_seconds']} s) | ≥ 98.5 % |",
        f"| same, once planning had finished | {f.get('share_of_quota_after_planning', 0):.2%} "
        f"({f.get('steady_rate_after_planning_per_second', 0):,} msg/s over "
        f"{f.get('steady_seconds_after_planning', 0)} s) | |",
        f"| 429s from the simulator | {f['rate_limited_429']} | 0 |",
        f"| largest count in any rolling 60 s window (simulator, exact) | {f['max_rolling_60s']:,} "
        "| ≤ 100,000 |",
        f"| recipients who saw the message, duplicates | {f['visible_messages']:,}, "
        f"{f['duplicate_message_ids']} | 200,000, 0 |",
        f"| time to complete | {f['seconds_to_complete']} s | |",
        "",
        f"Goal {met(f['met'])}. {quota_comment(f)}",
        "",
        "![messages per second against the quota](bench/results/quota.png)",
        "",
    ]


def quota_comment(f: dict[str, Any]) -> str:
    text = (
        f"The bucket runs at {f['bucket_rate_per_second']:,} msg/s (99.0 % of the quota, "
        "`worker/ratelimit/specs.py`); the simulator never answered 429 and no 60 s window went "
        "over the quota."
    )
    overall, after = f["share_of_quota"], f.get("share_of_quota_after_planning", 0.0)
    overlap = f.get("seconds_planning_overlapped_sending")
    if after - overall > 0.003:
        text += (
            f" While planning still ran (the grey band, {overlap} s) sending was slower, and that "
            f"start is what keeps the whole run at {overall:.2%} against {after:.2%} once planning "
            "had finished."
        )
    else:
        text += (
            f" Planning ran beside sending for {overlap} s (the grey band), 50,000 messages ahead "
            "of it page by page (`BLAZECAST_PLAN_AHEAD`), without holding it back: the whole run "
            f"is at {overall:.2%}, {after:.2%} once planning had finished. The rest of the "
            "shortfall is the bucket's own margin: it refills at (100,000 − 200) / 60.5 s so that "
            "its burst of 200 plus 60 s of refill stay under the quota with half a second of "
            "timing slack between Redis' clock and the provider's."
        )
    return text


def capacity_section(r: dict[str, Any]) -> list[str]:
    f = r["figures"]
    b, base = f["blazecast"], f.get("baseline") or {}
    per = b["cpu_microseconds_per_message"]
    own = sum(v for k, v in per.items() if k != "simulator")
    lines = [
        "### Capacity: the quota lifted",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']}): {f['recipients']:,} recipients, "
        f"one send worker with {f['concurrency']} processes, every message DELIVERED and READ "
        "within 0.2 s (two receipts per message).",
        "",
        "| figure | measured | goal |",
        "| --- | --- | --- |",
        f"| end to end: sent, recorded, both receipts applied | {b['end_to_end_per_second']:,} "
        f"msg/s ({b['seconds_to_all_recorded_and_receipts_applied']} s) | ≥ 5,000 msg/s |",
        f"| CPU per message, all components | {b['cpu_microseconds_per_message_total']:.0f} µs "
        f"({own:.0f} µs without the simulator) | |",
        f"| cores the run kept busy | {b['cores_busy']} of 2 | |",
        "",
        f"Goal {met(f['met'])}. CPU per message by component (µs): "
        + ", ".join(f"{k} {v:.0f}" for k, v in per.items())
        + ".",
        "",
    ]
    lines += [scaling(per, b["cores_busy"]), ""]
    profile = f.get("profile") or {}
    if profile and "skipped" not in profile:
        lines += ["Where the time goes (py-spy on the live processes, share of samples):", ""]
        lines += ["| component | by layer | heaviest blazecast call sites |", "| --- | --- | --- |"]
        for name, p in profile.items():
            layers = ", ".join(f"{k} {v:.0%}" for k, v in list(p["by_layer"].items())[:4])
            sites = ", ".join(
                f"`{k.split(' ')[0]}` {v:.0%}"
                for k, v in list(p["blazecast_call_sites"].items())
                if not k.startswith("outside")
            )
            lines.append(f"| {name} | {layers} | {', '.join(sites.split(', ')[:4])} |")
        lines.append("")
    if base:
        lines += [
            f"**Against one Celery task per message** (`bench/baseline/`, `rate_limit="
            f'"{base["rate_limit"]}"`, {base["concurrency"]} worker processes, one `POST /messages` '
            f"and one `INSERT` per message), same run, same audience: {base['sent_recorded_per_second']:,} "
            f"msg/s recorded against blazecast's {b['sent_recorded_per_second']:,}: blazecast is "
            f"**{f['ratio_sent_recorded_blazecast_to_baseline']}×** faster and costs "
            f"{b['cpu_microseconds_per_message_total']:.0f} µs of CPU per message against "
            f"{base['cpu_microseconds_per_message_total']:.0f} µs. The baseline reaches "
            f"{base['sent_recorded_per_second'] / 1666.7:.0%} of the quota, so its `rate_limit` never "
            "binds (and being per worker, it would not hold the quota across two workers anyway). "
            f"Publishing its {base['published']:,} tasks alone took {base['seconds_to_publish']} s "
            "(the plotted baseline line starts when the producer was done).",
            "",
            "![blazecast against one Celery task per message](bench/results/capacity.png)",
            "",
        ]
    return lines


def scaling(per: dict[str, float], cores_busy: float) -> str:
    """What the CPU per message says about scaling: each component's ceiling on one core."""
    total = sum(per.values())
    ceiling = {k: 1e6 / v for k, v in per.items() if v > 0}
    return (
        f"What this says: at {total:.0f} µs per message, two whole cores carry at most "
        f"~{2e6 / total:,.0f} msg/s with the simulator on the same machine (this run got "
        f"{cores_busy} cores; other test runs had the rest). One core of each component carries: "
        f"send workers ~{ceiling.get('send workers', 0):,.0f} msg/s, listener "
        f"~{ceiling.get('listener', 0):,.0f}, Postgres ~{ceiling.get('postgres', 0):,.0f}, "
        f"control/receipts worker ~{ceiling.get('control/receipts worker', 0):,.0f}. Send workers "
        "are stateless and share the quota through Redis, so more processes and more hosts scale "
        "sending; the listener is one process per bot (one Blaze connection) and becomes the "
        "ceiling next, then Postgres, which every component writes to. Beyond that: the send "
        "path's remaining SQL round trips and the listener's per-receipt thread hand-off "
        "([proposal](bench/proposals/send-path-round-trips.md))."
    )


def planning_section(r: dict[str, Any]) -> list[str]:
    f = r["figures"]
    return [
        "### Planning: 1,000,000 recipients",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']})",
        "",
        f"{f['deliveries']:,} deliveries in {f['batches']:,} batches (largest {f['largest_batch']}) "
        f"planned in **{f['seconds_started_to_planned']} s** from the tick that started the "
        f"announcement ({f['deliveries_per_second']:,.0f} deliveries/s; goal ≤ 20 s: "
        f"{met(f['met'])}). The pool process that planned stayed at "
        f"{f.get('pool_process_peak_rss_mib', '?')} MiB peak RSS "
        f"(+{f.get('pool_process_rss_growth_mib', '?')} MiB over the run): flat, no row passes "
        "through Python. Where the time went before migration 0002: the foreign-key triggers of "
        "`deliveries` took ~60 % of each page ([proposal](bench/proposals/planning-foreign-keys.md)).",
        "",
        "![planning progress and worker memory](bench/results/planning.png)",
        "",
    ]


def receipts_section(r: dict[str, Any]) -> list[str]:
    f = r["figures"]
    one, two = f["1_process"], f["2_process"]
    return [
        "### Receipts applied to Postgres",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']}): {f['deliveries']:,} deliveries, a "
        f"DELIVERED and a READ receipt each ({f['receipts_per_delivery']} per delivery with second "
        f"devices), `apply_receipts` in buffers of {f['buffer']:,}.",
        "",
        f"**{one['receipts_per_second']:,.0f} receipts/s** with one process, "
        f"**{two['receipts_per_second']:,.0f}/s** with two (goal ≥ 10,000/s: {met(f['met'])}); "
        f"counters equal the rows afterwards: {one['counters_exact'] and two['counters_exact']}.",
        "",
    ]


def components_section(r: dict[str, Any]) -> list[str]:
    send, listen = r["figures"]["send_path"], r["figures"]["listener"]
    return [
        "### The hot paths alone",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']}): outside Celery, one process each, "
        "so that a change to either path shows in its own figure.",
        "",
        f"- Send path (`BatchSender.send` over {send['messages_sent']:,} messages in batches of "
        f"100, against the simulator): **{send['sender_cpu_microseconds_per_message']} µs** of CPU "
        f"per message in the sender and {send['postgres_cpu_microseconds_per_message']} µs in "
        f"Postgres, {send['messages_per_second']:,.0f} msg/s from one process; "
        f"{send['deliveries_hot_share']:.0%} of the updates of `deliveries` were HOT (fillfactor "
        f"{send['fillfactor']}; `--fillfactor 100` shows the table before migration 0003, "
        "[proposal](bench/proposals/deliveries-fillfactor.md)).",
        f"- Listener (a subscribed `BlazeClient` receiving the DELIVERED and READ receipts of "
        f"{listen['receipts_expected'] // 2:,} messages): **{listen['cpu_microseconds_per_receipt']}"
        " µs** of CPU per receipt, reading, decoding and handing over included.",
        "",
    ]


def latency_section(r: dict[str, Any]) -> list[str]:
    f = r["figures"]
    s = f["start_latency_seconds"]
    return [
        "### Latency",
        "",
        f"`{r['command']}` ({load_note(r)}, {r['measured_at']})",
        "",
        f"- `scheduled_at` → first batch accepted: p50 {s['p50']} s, **p95 {s['p95']} s**, max "
        f"{s['max']} s over {f['start_samples']} announcements (goal p95 ≤ 2 s).",
        f"- Pause takes effect (last message accepted after the pause committed) within "
        f"**{f['pause_latency_max']} s** over {len(f['pause_latency_seconds'])} pauses mid-broadcast "
        f"(goal ≤ 1 s); resumed, the broadcast re-sent nothing "
        f"({f['duplicate_message_ids']} duplicate ids).",
        f"- Goals {met(f['met'])}.",
        "",
        "Most of the start latency is the wait for the next beat tick, which starts due "
        "announcements once a second; the samples are scheduled at phases spread evenly over that "
        "second. Runs before 2de0c62's bench change scheduled every sample at the same phase, so "
        "their figures (0.13 to 1.02 s at p50 below) show whichever phase the run happened to hit.",
        "",
    ]


def faults_section(r: dict[str, Any]) -> list[str]:
    rows = r.get("scenarios", [])
    lines = [
        "### Fault campaign",
        "",
        f"`{r['command']}` (opt-in; seed {r['seed']}, `BLAZECAST_FAULTS_SEED` to change it; "
        f"{load_note(r)}, {r['measured_at']}). Each scenario is a 50,000-recipient broadcast at the "
        "real quota through two send workers, the control worker, beat and the listener, with a "
        "dead worker's batch re-queued after 10 s (`BLAZECAST_LEASE_SECONDS=10`, "
        "`BLAZECAST_REQUEUE_AFTER_SECONDS=10`). It must end with every reachable recipient "
        "served exactly once (the simulator's distinct ids and Postgres' sent rows), blocked users "
        "failed and only they, counters equal to the rows, and receipts pushed = receipts recorded.",
        "",
        "| scenario | served once | time (× fault-free) | attempts per batch (worst) | copies accepted per message | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if row.get("seconds_to_complete") is None:
            lines.append(
                f"| {row['scenario']} | **did not finish** | | | | {row['problems'][0][:300]} |"
            )
            continue
        lost = row["lost_receipts"]
        notes = []
        if any(lost.values()):
            notes.append(
                f"receipts not recorded: {lost['delivered']} DELIVERED, {lost['read']} READ"
            )
        if row["faults_injected"]:
            notes.append(
                "injected " + ", ".join(f"{k} {v}" for k, v in row["faults_injected"].items())
            )
        if row["blocked"]:
            notes.append(
                f"{row['blocked']} blocked users failed, {row['errors_sent'].get('403', 0)} 403s"
            )
        events = [e.split(" ", 1)[1] for e in row["events"]]
        restarts = [e for e in events if "supervisor restarted" in e]
        injected = [e for e in events if e not in restarts]
        notes += injected[:1]
        if len(injected) > 1:
            notes.append(f"{len(injected)} faults in all")
        notes += restarts
        served = "yes" if not any(p for p in row["problems"] if "receipts" not in p) else "**no**"
        lines.append(
            f"| {row['scenario']} | {served}{'' if not row['problems'] else ' (see notes)'} | "
            f"{row['seconds_to_complete']} s ({row.get('time_vs_fault_free', '?')}×) | "
            f"{row['attempts_per_batch']} ({row['worst_batch_attempts']}) | "
            f"{row['copies_accepted_per_visible_message']} | {'; '.join(notes)} |"
        )
    lines += ["", *FAULT_FINDINGS, ""]
    lines += receipts_repeated(load("faults_receipts_5runs"))
    return lines


def receipts_repeated(r: dict[str, Any]) -> list[str]:
    """The receipts scenarios run again and again (issue 16: five times in a row, none lost)."""
    if not r:
        return []
    lines = [
        f"Receipts through killed workers and a Redis restart, {len(r['runs'])} runs in a row "
        f"(`{r['command']}`, seed {r['seed']}, {r['commit_note']}):",
        "",
        "| run | measured at | sigkill_workers: lost DELIVERED / READ (time) "
        "| restart_redis: lost DELIVERED / READ (time) | passed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in r["runs"]:
        cells = []
        for name in ("sigkill_workers", "restart_redis"):
            row = next(s for s in run["scenarios"] if s["scenario"] == name)
            lost = row["lost_receipts"]
            cells.append(f"{lost['delivered']} / {lost['read']} ({row['seconds_to_complete']} s)")
        lines.append(
            f"| {run['run']} | {run['measured_at']} | {cells[0]} | {cells[1]} | "
            f"{'yes' if run['all_passed'] else '**no**'} |"
        )
    return [*lines, ""]


FAULT_FINDINGS = [
    "What the campaign found:",
    "",
    "- Killing workers, restarting Redis or Postgres, 500s, dropped replies, cut connections and "
    "blocked users never lost or duplicated a message for a user: re-sends after a lost reply "
    "reuse the message id and the provider shows it once (`copies accepted` > 1 counts them).",
    "- Receipts are journaled in a Redis stream per bot within 5 ms of the listener reading them and "
    "leave it only once applied (consumer group; a dead recorder's entries are claimed after 10 s), "
    "and Redis keeps an append-only file: the SIGKILL and Redis-restart scenarios require every "
    "receipt recorded (issue 16; before, a killed worker's reserved `record_receipts` waited out "
    "the broker's visibility timeout, if it came back at all, and a Redis restart lost what was "
    "queued). A SIGKILLed *listener* loses only what was inside its process (socket buffer and "
    "the receipts of the last 5 ms, gathered for one append); the provider never re-pushes a "
    "receipt.",
    "- A 429 storm slows the rest of the broadcast: each 429 halves the shared bucket's rate, "
    "which climbs back to the full rate within a window (`BLAZECAST_RATE_RECOVERY_PER_WINDOW`, 1.0 "
    "since 9c79478; it was a quarter per window and a 5 s storm cost 2.89× the fault-free time).",
    "- Blocked users slow a broadcast: with 1 % of them, 63 % of batches hold one; the provider's "
    "403 names the culprit, so the batch is sent again without it (one 403 per blocked user), "
    "but the refused request had already taken tokens for its 100 messages. Whether Mixin counts "
    "a refused request against the quota is not documented, so the tokens are not given back: "
    "~100 tokens of quota per blocked user (`BatchSender._deliver`).",
    "- Two bugs the campaign found are fixed: the completion recount overwrote receipts counted "
    "at the same moment ([proposal](bench/proposals/recount-races-receipts.md), 679b1de), and "
    "in 3 of 6 Redis restarts the control worker exited on a kombu bug (`AttributeError: "
    "'NoneType' object has no attribute 'hostname'` while closing a channel with a pending "
    "BRPOP); workers now use `worker/redis_transport.py` (18a2f19, "
    "`tests/e2e/test_redis_restart.py`), and no worker died in the last run's Redis restart.",
]


def _run_note(entry: dict[str, Any], latest: dict[str, Any]) -> str:
    """Load average, commit, and the command where it differs from the latest run's."""
    notes = [f"load average {entry['loadavg'][0]}"]
    if entry.get("commit"):
        notes.append(entry["commit"])
    if entry.get("command") and entry["command"] != latest.get("command"):
        notes.append(f"`{entry['command']}`")
    return ", ".join(notes)


def render() -> str:
    lines = [
        "## Performance",
        "",
        "Measured on this project's 2-core machine, everything on loopback (blazecast's processes, "
        "the simulator in its own process with receipts on, embedded Postgres and Redis), with "
        "other engineers' test runs sharing the cores: each result records the load average. "
        "`python -m bench.<name>` reruns a bench and rewrites `bench/results/<name>.json`; "
        "`python -m bench.report` rewrites this section from them. Measured findings and "
        "suggested changes are in [bench/proposals/](bench/proposals/README.md).",
        "",
    ]
    for name, section in (
        ("quota", quota_section),
        ("capacity", capacity_section),
        ("planning", planning_section),
        ("receipts", receipts_section),
        ("latency", latency_section),
        ("components", components_section),
        ("bots", lambda r: bots_section(r, load_note(r))),
        ("faults", faults_section),
        ("quota_imrest", lambda r: quota_imrest_section(r, load_note(r), met)),
        ("capacity_imrest", lambda r: capacity_imrest_section(r, load_note(r))),
        ("imrest_sampling", lambda r: sampling_section(r, load_note)),
        ("faults_imrest", lambda r: faults_imrest_section(r, load_note(r))),
        ("history", lambda r: history_section(r, load("history_migration"), load_note(r))),
    ):
        result = load(name)
        if result:
            lines += section(result)
            earlier = [e for e in history(name) if e["summary"] != result.get("summary")]
            if earlier:
                lines += ["Other runs of this bench (`bench/results/history.jsonl`):", ""]
                lines += [f"- {e['summary']} ({_run_note(e, result)})" for e in earlier[-4:]]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    text = README.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    if not rest:
        raise SystemExit(f"README.md has no {START} marker")
    README.write_text(f"{before}{START}\n{render()}{END}{after}")
    print(f"rewrote the Performance section of {README.name}")


if __name__ == "__main__":
    main()
