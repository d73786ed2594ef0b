"""Build the configured ``Transport`` from plain parameters (the settings object calls this).

``kind`` is ``BLAZECAST_TRANSPORT``: ``"blaze"`` (default) sends PLAIN_* batches with
``CREATE_PLAIN_MESSAGES`` and the other categories with HTTP ``POST /messages``; ``"http"``
sends everything with ``POST /messages``. A sending transport never subscribes to pushes: the
listener has its own ``BlazeClient(subscribe=True)``.
"""

from __future__ import annotations

from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.blaze_transport import BlazeTransport
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.transport import Transport

TRANSPORT_KINDS = ("blaze", "http")


def make_transport(
    kind: str, keystore: Keystore, *, api_url: str, blaze_url: str, timeout: float = 5.0
) -> Transport:
    """A ready ``Transport`` of ``kind``; ``timeout`` bounds each request's wait for a reply."""
    if kind == "http":
        return HttpTransport(keystore, api_url, timeout=timeout)
    if kind == "blaze":
        blaze = BlazeClient(keystore, blaze_url, api_url, subscribe=False, request_timeout=timeout)
        return BlazeTransport(blaze, HttpTransport(keystore, api_url, timeout=timeout))
    raise ValueError(f"unknown transport {kind!r}; expected one of {', '.join(TRANSPORT_KINDS)}")
