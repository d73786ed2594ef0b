"""`simulator-imrest` (also `python -m simulator.imrest`): the fake IM REST API in the foreground.

The lead registers `imrest_simulator_command` under `blazecast`; it prints the base URL, the app
id, the admin token and the sending account a client needs, then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click

from simulator.foreground import load_fault_plan, serve_until_signal
from simulator.imrest.config import ImRestConfig, RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from simulator.imrest.server import ImRestSimulator

EXAMPLE = """
\b
Example: a fake IM REST API whose recipients read within seconds, one reply in 50 dropped
  blazecast simulator-imrest --port 7100 --users 500 --users-out imrest-users.csv \\
      --read-delay 2 --faults '{"drop_rate": 0.02}'
"""


@click.command("simulator-imrest", epilog=EXAMPLE)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7100, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--app-id", default="blazecast-demo", show_default=True, help="The app's app_id.")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same tokens.")
@click.option("--users", default=1000, show_default=True, type=int, help="Recipients to create.")
@click.option(
    "--users-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the recipients' ids as CSV with a user_id header.",
)
@click.option(
    "--groups",
    default=2,
    show_default=True,
    type=int,
    help="Groups the sending account belongs to.",
)
@click.option("--group-size", default=10, show_default=True, type=int, help="Users per group.")
@click.option(
    "--delivery-delay",
    default=0.5,
    show_default=True,
    type=float,
    help="Seconds until a recipient's device has a message (UNREAD -> DELIVERED).",
)
@click.option(
    "--read-delay",
    default=3.0,
    show_default=True,
    type=float,
    help="Seconds from delivery to READ; negative: recipients never read.",
)
@click.option(
    "--deliver-probability",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of messages a recipient's device ever receives (seeded per user and message).",
)
@click.option(
    "--read-probability",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of delivered messages that are read; the stats' status_truth is the real rate.",
)
@click.option(
    "--spread",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Stretch each delay by a seeded factor in [1 - spread, 1 + spread].",
)
@click.option(
    "--budget-window",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds of the rolling window whose largest request count the stats report.",
)
@click.option(
    "--dedup-window",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds a transaction_id is remembered (0 disables dedup).",
)
@click.option(
    "--msg-ids",
    type=click.Choice(["single", "never"]),
    default="single",
    show_default=True,
    help="Return msg_ids for single-target sends (ZH: edition) or never (English).",
)
@click.option(
    "--max-targets", default=100, show_default=True, type=int, help="Targets per request."
)
@click.option(
    "--rate-limit",
    type=float,
    default=None,
    help="Requests per second per app_id before HTTP 429 (default: no limit).",
)
@click.option(
    "--rate-burst", default=10, show_default=True, type=int, help="Burst of --rate-limit."
)
@click.option("--auth-http-status", is_flag=True, help="Authentication failures as HTTP 401/403.")
@click.option(
    "--partial-execution", is_flag=True, help="Send to the valid targets of a refused request."
)
@click.option("--keep-recalled", is_flag=True, help="Show recalled messages, flagged, in pages.")
@click.option(
    "--faults",
    "faults_text",
    metavar="JSON|@FILE",
    help="Fault plan, as POST /_sim/faults takes it.",
)
def imrest_simulator_command(**options: Any) -> None:
    """Run a local fake of the IM REST message API (seed 004): send, notify, conversation
    pages, ack, recall, unread, with simulated recipients, dedup by transaction_id, injected
    faults, and GET /_sim/stats.
    """
    read_delay = options["read_delay"]
    try:
        behaviour = RecipientBehaviour(
            delivery_delay=options["delivery_delay"],
            read_delay=None if read_delay < 0 else read_delay,
            delivery_probability=options["deliver_probability"],
            read_probability=options["read_probability"],
            spread=options["spread"],
        )
        config = ImRestConfig(
            host=options["host"],
            port=options["port"],
            app_id=options["app_id"],
            seed=options["seed"],
            users=options["users"],
            groups=options["groups"],
            group_size=options["group_size"],
            behaviour=behaviour,
            faults=load_fault_plan(options["faults_text"], FaultPlan.from_dict),
            dedup_window_seconds=options["dedup_window"],
            msg_ids=options["msg_ids"],
            max_targets=options["max_targets"],
            rate_limit_per_second=options["rate_limit"],
            rate_limit_burst=options["rate_burst"],
            auth_http_status=options["auth_http_status"],
            partial_execution=options["partial_execution"],
            keep_recalled=options["keep_recalled"],
            budget_window_seconds=options["budget_window"],
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    sim = ImRestSimulator(config)

    def announce() -> None:
        click.echo(f"IM REST API:  {sim.base_url}")
        click.echo(f"App id:       {sim.app_id}")
        click.echo(f"Admin token:  {sim.admin_token}")
        click.echo(
            f"Sender:       {sim.sender_id} (from_user_id; {len(sim.user_ids)} recipients, "
            f"first {sim.user_ids[0]})"
        )
        if options["users_out"] is not None:
            click.echo(f"Users CSV:    {_write_users(options['users_out'], sim.user_ids)}")
        click.echo(f"Stats:        {sim.base_url}/_sim/stats   (Ctrl-C to stop)")

    serve_until_signal(sim, f"{config.host}:{config.port}", announce)


def _write_users(path: Path, user_ids: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id"])
        writer.writerows([user_id] for user_id in user_ids)
    return path
