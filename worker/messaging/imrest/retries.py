"""What becomes of an IM REST batch after a transient failure (spec §3.2, §5.1), a pure decision.

The error tree says *whether* a failure may be retried; for this provider two more rules decide
*if it still should*, and they are the provider's, not the pipeline's:

- **The retry horizon.** A retry carries the same ``transaction_id``, which the server only
  remembers "in a short time" (60 s assumed). Past ``ImRestSettings.retry_horizon_seconds`` from
  the batch's first attempt, a retry might be executed twice, so the ``mark_unknown`` policy
  stops and records the recipients' fate as unknown (at most once), and ``resend`` retries
  anyway (at least once).
- **Unknown codes.** A ``code`` this client has never seen is retried at most
  ``unknown_code_retries`` times (3), then the batch fails: it is safer than retrying a code
  that may mean "never" for the pipeline's whole attempt budget.

The pipeline's own attempt bound and backoff (``worker.broadcast.retry``) still apply; this
decision is taken before them.
"""

from __future__ import annotations

from typing import Literal

from worker.messaging.errors import TransientError
from worker.messaging.imrest.codes import PROVIDER
from worker.messaging.imrest.settings import ImRestSettings

#: ``retry``: send again with the same transaction_id; ``give_up``: the batch failed;
#: ``unknown``: it may or may not have been executed, report its recipients as unknown.
Verdict = Literal["retry", "give_up", "unknown"]


def is_unknown_code(error: TransientError) -> bool:
    """A reply this client could not place: an unlisted ``code`` or an unexpected HTTP status.

    Known transient outcomes (connection lost, timeout, 429, 5xx, 20000) have their own
    subclasses; only the catch-all is a plain ``TransientError``.
    """
    return type(error) is TransientError and error.provider == PROVIDER


def after_transient(
    error: TransientError,
    *,
    failures: int,
    first_attempt_at: float,
    now: float,
    settings: ImRestSettings,
) -> Verdict:
    """The verdict on a batch whose ``failures``-th attempt (1-based) just failed with ``error``.

    ``first_attempt_at`` and ``now`` are on the same clock (seconds).
    """
    if failures < 1:
        raise ValueError("failures counts the failed attempts, including this one")
    if is_unknown_code(error) and failures > settings.unknown_code_retries:
        return "give_up"
    if not settings.may_resend(first_attempt_at, now):
        return "unknown"
    return "retry"
