"""`blazecast simulator` (also `python -m simulator`): run the local Mixin server in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from simulator.config import SimConfig, UserBehaviour
from simulator.faults import FaultPlan
from simulator.foreground import load_fault_plan, serve_until_signal
from simulator.server import Simulator

EXAMPLE = """
\b
Example: a simulator for a laptop demo, with its users exported for import
  blazecast simulator --users 5000 --users-out users.csv \\
      --keystore-out .blazecast/simulator/keystore.json \\
      --faults '{"error_rate": {"500": 0.02}, "drop_reply_rate": 0.01}'
  export BLAZECAST_KEYSTORE=.blazecast/simulator/keystore.json
  export BLAZECAST_MIXIN_API_URL=http://127.0.0.1:7000
  export BLAZECAST_MIXIN_BLAZE_URL=ws://127.0.0.1:7000/
  blazecast users import users.csv
"""


@click.command("simulator", epilog=EXAMPLE)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7000, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--users", default=1000, show_default=True, type=int, help="Users to generate.")
@click.option(
    "--users-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Load users from a CSV (user_id header) or JSON list instead of generating them.",
)
@click.option(
    "--users-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the users as CSV with a user_id header (for `blazecast users import`).",
)
@click.option(
    "--keystore-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".blazecast/simulator/keystore.json"),
    show_default=True,
    help="Where to write the bot keystore the simulator accepts.",
)
@click.option(
    "--keystore-format",
    type=click.Choice(["current", "legacy"]),
    default="current",
    show_default=True,
    help="current: app_id/session_private_key; legacy: client_id/private_key.",
)
@click.option(
    "--seed", default=1, show_default=True, type=int, help="Same seed, same bot and users."
)
@click.option("--bots", default=1, show_default=True, type=int, help="Number of simulated bots.")
@click.option(
    "--quota-per-minute",
    default=100_000,
    show_default=True,
    type=int,
    help="Messages per bot per rolling window before 429.",
)
@click.option(
    "--quota-window",
    default=60.0,
    show_default=True,
    type=float,
    help="Length of the rolling quota window, in seconds.",
)
@click.option(
    "--read-probability",
    default=0.7,
    show_default=True,
    type=float,
    help="Chance that a reading user reads a given message.",
)
@click.option(
    "--never-read-fraction",
    default=0.1,
    show_default=True,
    type=float,
    help="Users who never read anything.",
)
@click.option(
    "--blocked-fraction",
    default=0.01,
    show_default=True,
    type=float,
    help="Users who blocked the bot (sending to them is 403).",
)
@click.option(
    "--delivery-median",
    default=0.3,
    show_default=True,
    type=float,
    help="Median seconds until a device stores a message (lognormal).",
)
@click.option(
    "--read-median",
    default=5.0,
    show_default=True,
    type=float,
    help="Median seconds from delivery to read (lognormal).",
)
@click.option(
    "--multi-device-fraction",
    default=0.05,
    show_default=True,
    type=float,
    help="Users with several devices (one DELIVERED receipt each).",
)
@click.option(
    "--duplicate-receipts",
    default=0.0,
    show_default=True,
    type=float,
    help="Chance that a message gets one receipt twice.",
)
@click.option(
    "--out-of-order",
    default=0.0,
    show_default=True,
    type=float,
    help="Chance that READ arrives before DELIVERED.",
)
@click.option(
    "--fast", is_flag=True, help="Test preset: delays under 0.2 s, all read, none blocked."
)
@click.option(
    "--queue-receipts",
    is_flag=True,
    help="Keep receipts while the bot has no listening connection (default: drop them).",
)
@click.option("--accept-rs512", is_flag=True, help="Also accept RS512 tokens of a legacy RSA key.")
@click.option(
    "--strict-iat", is_flag=True, help="Also reject tokens issued more than 5 minutes ago."
)
@click.option(
    "--faults",
    "faults_text",
    metavar="JSON|@FILE",
    help="Fault plan, as POST /_sim/faults takes it.",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
def simulator_command(**options: Any) -> None:
    """Run a local Mixin Messenger server: the Blaze websocket at /, the HTTP API beside it,
    DELIVERED/READ receipts from simulated users, injected faults, and GET /_sim/stats.

    It prints its URLs and the path of a keystore it accepts, then serves until Ctrl-C or
    SIGTERM.
    """
    logging.basicConfig(
        level=options["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    behaviour_knobs = {
        "read_probability": options["read_probability"],
        "never_read_fraction": options["never_read_fraction"],
        "blocked_fraction": options["blocked_fraction"],
        "delivery_median": options["delivery_median"],
        "read_median": options["read_median"],
        "multi_device_fraction": options["multi_device_fraction"],
        "duplicate_receipt_rate": options["duplicate_receipts"],
        "out_of_order_rate": options["out_of_order"],
    }
    try:
        behaviour = UserBehaviour.fast() if options["fast"] else UserBehaviour(**behaviour_knobs)
        config = SimConfig(
            host=options["host"],
            port=options["port"],
            seed=options["seed"],
            bots=options["bots"],
            users=options["users"],
            users_file=options["users_file"],
            behaviour=behaviour,
            faults=load_fault_plan(options["faults_text"], FaultPlan.from_dict),
            quota_per_minute=options["quota_per_minute"],
            quota_window_seconds=options["quota_window"],
            accept_rs512=options["accept_rs512"],
            strict_iat=options["strict_iat"],
            queue_receipts_offline=options["queue_receipts"],
            keystore_path=options["keystore_out"],
        )
        sim = Simulator(config)
    except ValueError as error:
        raise click.ClickException(str(error)) from None

    def announce() -> None:
        if options["keystore_format"] != "current":
            sim.write_keystore(sim.keystore_path, options["keystore_format"])
        click.echo(f"HTTP API:  {sim.http_url}")
        click.echo(f"Blaze:     {sim.blaze_url}")
        click.echo(f"Keystore:  {sim.keystore_path}")
        for number, path in enumerate(sim.keystore_paths[1:], start=2):
            click.echo(f"Keystore {number}: {path}")
        click.echo(f"Bot:       {sim.bot_id} ({len(sim.user_ids)} users)")
        if options["users_out"] is not None:
            click.echo(f"Users CSV: {sim.population.write_csv(options['users_out'])}")
        click.echo(f"Stats:     {sim.http_url}/_sim/stats   (Ctrl-C to stop)")

    serve_until_signal(sim, f"{config.host}:{config.port}", announce)
