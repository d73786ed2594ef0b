"""Benchmarks that measure blazecast end to end and print, save and plot their figures.

Each script is a module run from the repository root, with its own embedded Postgres and Redis
under ``.blazecast/bench/`` and the simulator in a child process, all on loopback:

- ``python -m bench.quota``: 200,000 recipients at the real quota (share of it used, 429s, worst
  rolling 60 s window), with a plot of messages per second against the quota line.
- ``python -m bench.capacity``: the quota lifted; end-to-end messages per second, CPU per message
  by component, a py-spy profile, and the Celery ``rate_limit`` baseline measured in the same run.
- ``python -m bench.planning``: 1,000,000 recipients planned, time and the worker's peak RSS.
- ``python -m bench.receipts``: receipts applied to Postgres per second.
- ``python -m bench.latency``: ``scheduled_at`` to first accepted batch, and pause latency.
- ``python -m bench.components``: the send path and the listener alone, CPU per message/receipt.
- ``python -m bench.bots``: three bots at their own quota at once, a capped announcement beside an
  uncapped one, pause and cancel mid-send.

Results go to ``bench/results/<name>.json`` (plus a PNG where a picture helps, and a line in
``history.jsonl``); ``python -m bench.report`` writes the README's Performance section from them.
``bench/baseline/`` is the one-Celery-task-per-message baseline; ``bench/proposals/`` holds the
pipeline changes the measurements suggest. The fault campaign lives in ``tests/faults``
(``pytest -m faults tests/faults``). ``simulator_throughput.py`` and ``bucket_window.py`` are the
simulator's and the token bucket's own benches.
"""
