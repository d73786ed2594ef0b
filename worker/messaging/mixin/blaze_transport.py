"""``BlazeTransport``: batches over the websocket, with HTTP for what the websocket cannot carry.

``CREATE_PLAIN_MESSAGES`` is documented for ``PLAIN_*`` categories only, so APP_CARD,
APP_BUTTON_GROUP, MESSAGE_RECALL and MESSAGE_PIN go over ``POST /messages`` with the same
message objects, ids and limits (spec, "What blazecast relies on" 5).
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.messaging.mixin.batching import check_batch
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.payloads import PLAIN_CATEGORIES
from worker.messaging.transport import OutgoingMessage


class BlazeTransport:
    """The default ``Transport``: PLAIN_* over Blaze, other categories over HTTP."""

    name = "blaze"

    def __init__(self, blaze: BlazeClient, http: HttpTransport) -> None:
        self.blaze = blaze
        self.http = http

    def __repr__(self) -> str:
        return f"BlazeTransport({self.blaze!r}, {self.http!r})"

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send the batch; a mixed batch is two requests, and raises if either fails.

        Re-sending the whole batch after a partial success is safe: Mixin deduplicates by
        ``message_id``, so the half that went through is not shown twice.
        """
        plain = [m for m in messages if m.category in PLAIN_CATEGORIES]
        others = [m for m in messages if m.category not in PLAIN_CATEGORIES]
        if plain and others:
            # Checked whole first, so that neither half goes out of a batch over the limits.
            # A batch of one kind is checked by the one client that sends it: encoding a batch
            # to measure it costs as much as the frame itself.
            check_batch(messages)
        if plain:
            self.blaze.send_messages(plain)
        if others:
            self.http.send_messages(others)

    def close(self) -> None:
        """Close the websocket and the HTTP pool."""
        try:
            self.blaze.close()
        finally:
            self.http.close()
