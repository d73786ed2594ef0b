"""The README's subsection for ``bench.bots`` (many bots at once, caps, pause and cancel), written
by ``bench.report`` from ``bench/results/bots.json``."""

from __future__ import annotations

from typing import Any

QUOTA_SHARE_GOAL, CAP_SHARE_GOAL = 0.97, 0.95


def bots_section(r: dict[str, Any], load_note: str) -> list[str]:
    f = r["figures"]
    quota, cap = f["quota_per_minute"], f["cap_per_minute"]
    capped, uncapped = f["announcements"]["bot-1 capped"], f["announcements"]["bot-1 uncapped"]
    lines = [
        f"### Many bots: three bots at {quota:,} messages per minute each, one announcement capped",
        "",
        f"`{r['command']}` ({load_note}, {r['measured_at']})",
        "",
        "The simulator serves three bots, each with its own exact rolling quota; one announcement "
        "per bot plus, on bot-1, one capped with `--rate "
        f"{cap}`, all started in the same tick, through real processes (send worker, control "
        "worker, beat, one listener for the three bots). Every figure is the simulator's.",
        "",
        "| bot | quota used while it had uncapped work | largest rolling 60 s count | 429s |",
        "| --- | --- | --- | --- |",
    ]
    for name, b in f["bots"].items():
        share = b["quota_share_while_uncapped_work"]
        lines.append(
            f"| {name} | **{share:.2%}** ({b['steady_rate_per_second']:,} msg/s over "
            f"{b['steady_seconds']} s; goal ≥ {QUOTA_SHARE_GOAL:.0%}: "
            f"{_met(share >= QUOTA_SHARE_GOAL)}) | {b['max_rolling_60s']:,} (≤ {quota:,}: "
            f"{_met(b['max_rolling_60s'] <= quota)}) | {b['quota_429']} |"
        )
    kept = capped["cap_share_kept"]
    lines += [
        "",
        f"- Capped announcement ({capped['recipients']:,} recipients): largest rolling 60 s count "
        f"**{capped['max_rolling_60s']:,}** (≤ {cap:,}: {_met(capped['max_rolling_60s'] <= cap)}), "
        f"**{kept:.2%} of the cap kept** ({capped['steady_rate_per_second']} msg/s; goal ≥ "
        f"{CAP_SHARE_GOAL:.0%}: {_met(kept >= CAP_SHARE_GOAL)}). The uncapped one beside it got "
        f"{uncapped['share_of_rest']:.2%} of the rest of bot-1's quota.",
        "- Seconds from the scheduled time to each announcement's first accepted message: "
        + ", ".join(
            f"{name} {a['seconds_scheduled_to_first_accepted']}"
            for name, a in f["announcements"].items()
        )
        + " (all four scheduled for the same instant; the beat tick starts due work once a "
        "second).",
        f"- Every recipient saw the message once: {_met(f['every_recipient_once'])} "
        f"({f['duplicate_message_ids']} duplicate ids); blazecast's counters (sent per announcement "
        f"and bot, DELIVERED, READ) equal the simulator's: {_met(f['counters_equal_simulator'])}.",
    ]
    for kind in ("pause", "cancel"):
        s = f["stops"][kind]
        lines.append(
            f"- {s['count']} {kind}s of a capped announcement mid-send: messages accepted after the "
            f"{kind} was requested {s['messages_after']} (requests {s['requests_after']}; at most "
            f"one request in flight allowed: {_met(s['within_one_request'])})."
        )
    lines += ["", f"![send rate per bot and per announcement](bench/results/{f['plot']})", ""]
    return lines


def _met(flag: object) -> str:
    return "**met**" if flag else "**not met**"
