"""What an operator reads of a task in Flower: the keyword arguments that name its work, and a
result (or exception) that says what came of it.

One place builds both: every task, result and exception names the batch, its announcement and its
bot the same way (one more thing to name is one more key here).
"""

from __future__ import annotations

import uuid
from typing import Any

from worker.broadcast.sender import BatchResult

# What an outcome says before the provider's error, if any.
_REASONS = {"throttled": "waiting for the quota's tokens", "failed": "gave up: "}


def send_batch_kwargs(
    batch_id: int, announcement_id: uuid.UUID | str | None, bot_id: int | None
) -> dict[str, Any]:
    """The keyword arguments of a ``send_batch`` task: the batch, its announcement and bot."""
    return {
        "batch_id": batch_id,
        "announcement_id": None if announcement_id is None else str(announcement_id),
        "bot_id": bot_id,
    }


def batch_summary(batch_id: int, result: BatchResult) -> dict[str, Any]:
    """A batch's result as Flower shows it: what happened, how many went out or failed, and why."""
    summary: dict[str, Any] = {
        "outcome": result.outcome,
        **send_batch_kwargs(batch_id, result.announcement_id, result.bot_id),
        "sent": result.sent,
        "failed": result.failed,
    }
    reason = _REASONS.get(result.outcome, "")
    if result.error:
        reason = f"{reason}{result.error}"[:300]
    if reason:
        summary["reason"] = reason
    if result.retry_in is not None:
        summary["next_attempt_in_seconds"] = round(result.retry_in, 1)
    return summary


def describe(summary: dict[str, Any]) -> str:
    """A summary as one line, for an exception's message (Flower's RETRY and FAILURE rows)."""
    parts = [
        f"batch {summary['batch_id']} of announcement {summary['announcement_id']} "
        f"(bot {summary['bot_id']})",
        f"{summary['outcome']}: {summary.get('reason', '')}",
        f"sent {summary['sent']}, failed {summary['failed']}",
    ]
    if "next_attempt_in_seconds" in summary:
        parts.append(f"next attempt in {summary['next_attempt_in_seconds']} s")
    return "; ".join(parts)


# Plain exceptions carrying one line (``describe``), so that they pickle and print anywhere.


class BatchRetried(Exception):
    """A batch's send was refused for a transient reason; the pipeline retries it when due."""


class BatchGaveUp(Exception):
    """A batch's attempts ran out: its unsent messages are recorded as failed."""
