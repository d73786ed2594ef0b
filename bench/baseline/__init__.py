"""The baseline: what a user would write instead of blazecast, one Celery task per message.

``bench.baseline.app`` is a plain Celery app whose ``send_one`` task sends one message with
``POST /messages`` and records it, paced by Celery's own ``rate_limit`` (per worker, in memory);
``bench.baseline.enqueue`` publishes one task per recipient. ``bench.capacity`` runs it as a real
Celery worker process against the same simulator, Postgres and listener as blazecast, in the
same run, and reports the ratio.
"""
