"""``python -m worker.cli`` is the ``blazecast`` command."""

from worker.cli.main import main

main()
