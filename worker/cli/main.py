"""The ``blazecast`` command: a click group whose verbs live one noun per module (STYLE 13).

Errors that an operator can fix (a bad setting, bad input, a missing row) are printed as one line
on stderr with exit code 1 or 2; only real bugs show a traceback.
"""

from __future__ import annotations

import sys

import click

from worker.cli import errors


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="blazecast")
def cli() -> None:
    """blazecast: broadcast announcements to Mixin Messenger users under the bot's quota.

    \b
    Example, on a laptop with nothing configured (embedded Postgres and Redis):
      blazecast demo
    """


def _register() -> None:
    # Imported here, not at module level, so that `blazecast --help` stays fast.
    from simulator.cli import simulator_command
    from simulator.imrest.cli import imrest_simulator_command
    from worker.cli import (
        announce,
        bots,
        db,
        demo,
        doctor,
        engines,
        history,
        metrics,
        processes,
        users,
    )

    for command in (
        db.db,
        engines.engines,
        *processes.COMMANDS,
        *bots.COMMANDS,
        *users.COMMANDS,
        *announce.COMMANDS,
        *demo.COMMANDS,
        *metrics.COMMANDS,
        *doctor.COMMANDS,
        *history.COMMANDS,
        simulator_command,
        imrest_simulator_command,
    ):
        cli.add_command(command)


def main() -> None:
    _register()
    try:
        result = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as error:
        # One line, with where to look, instead of click's three-line usage block.
        command = error.ctx.command_path if error.ctx else "blazecast"
        click.echo(f"error: {error.format_message()} (see '{command} --help')", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except errors.OPERATOR_ERRORS as error:
        click.echo(f"error: {errors.describe(error)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(result, int) and result != 0:
        sys.exit(result)  # a command that ended with ctx.exit(code)
