"""Status polling of an IM REST bot (spec §3.3): the provider side of ``StatusPolling``.

The API pushes no receipts, so the pipeline polls each polled recipient's conversation on the
bot's schedule (``polling.PollSchedule``), as the sending account, and this module turns one walk
into one ``PolledStatus``. Which recipients are polled is decided by ``sampling``: everyone up to
``sample_above``, else a uniform sample sized for ±``sample_margin`` at 95 %; the pipeline picks
it in SQL with the same key (``sample_prefix``).
"""

from __future__ import annotations

from collections.abc import Callable

from worker.messaging.imrest import sampling
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.polling import PollSchedule
from worker.messaging.imrest.settings import ImRestSettings
from worker.messaging.imrest.status import PROVIDER_STATUS, STATUS_RANK
from worker.messaging.imrest.transport import ImRestTransport
from worker.messaging.provider import PolledStatus

#: The receipt (forward-only update) each blazecast status means; SENT moves nothing.
RECEIPT_OF = {"SENT": None, "DELIVERED": "DELIVERED", "READ": "READ"}
MISSING = "MISSING"


class ImRestStatusPolling:
    """What the pipeline needs to poll an IM REST bot's statuses (``StatusPolling``)."""

    def __init__(
        self, policy: ImRestSettings, open_transport: Callable[[], ImRestTransport]
    ) -> None:
        self._schedule = policy.poll_schedule
        self._open_transport = open_transport
        self.delays: tuple[float, ...] = self._schedule.delays
        self.poll_share = policy.poll_share
        self.sample_above = policy.sample_above
        self.sample_margin = policy.sample_margin

    @property
    def schedule(self) -> PollSchedule:
        return self._schedule

    def sample_size(self, audience: int) -> int:
        if audience <= self.sample_above:
            return audience
        return sampling.sample_size(audience, margin=self.sample_margin)

    def sample_prefix(self, seed: str) -> str:
        return sampling.sample_prefix(seed)

    def next_poll(self, sent_at: float, polled_at: float, status: str) -> float | None:
        return self._schedule.after(sent_at, polled_at, PROVIDER_STATUS.get(status))

    def open_poller(self) -> ImRestPoller:
        return ImRestPoller(self._open_transport())


class ImRestPoller:
    """One connection that walks conversations as the sending account (``StatusPoller``)."""

    def __init__(self, transport: ImRestTransport) -> None:
        self.transport = transport

    def poll(
        self,
        user_id: str,
        announcement_id: str,
        *,
        since_ms: int,
        take_page: Callable[[], bool],
    ) -> PolledStatus:
        rows = self.transport.conversation_status(
            int(user_id), marker=Marker(announcement_id), since_ms=since_ms, before_page=take_page
        )
        if not rows:
            return PolledStatus(MISSING, None, None)
        # One message per recipient and announcement, unless a resend after the retry horizon
        # sent it twice: the furthest status of them is the recipient's.
        furthest = max(rows, key=lambda row: (STATUS_RANK[row.status], row.msg_id))
        return PolledStatus(furthest.provider_status, RECEIPT_OF[furthest.status], furthest.msg_id)

    def close(self) -> None:
        self.transport.close()
