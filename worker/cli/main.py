"""The ``blazecast`` command: a click group whose verbs live one noun per module (STYLE 13).

Errors that an operator can fix (a bad setting, bad input, a missing row) are printed as one line
on stderr with exit code 1 or 2; only real bugs show a traceback.
"""

from __future__ import annotations

import sys
from types import ModuleType

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
    from worker.cli import db, engines, processes

    cli.add_command(db.db)
    cli.add_command(engines.engines)
    for command in processes.COMMANDS:
        cli.add_command(command)
    simulator = _optional("simulator.cli")
    if simulator is not None:
        cli.add_command(simulator.simulator_command)
    for module_name in ("users", "announce", "demo", "metrics"):
        module = _optional(f"worker.cli.{module_name}")
        if module is not None:
            for command in module.COMMANDS:
                cli.add_command(command)


def _optional(name: str) -> ModuleType | None:
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise


def main() -> None:
    _register()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except errors.OPERATOR_ERRORS as error:
        click.echo(f"error: {errors.describe(error)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
