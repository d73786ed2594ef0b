"""The IM REST client, blazecast's second provider, written to ``specs/im-rest-protocol.md``.

Pure parts, tested with values: ``settings`` (``ImRestSettings``: base URL, app, token, sending
account, limits), ``transaction`` (the deterministic ``transaction_id`` of a batch), ``marker``
(the ``ext`` marker that finds blazecast's messages again), ``send_request`` (one batch, one
request body), ``codes`` and ``responses`` (replies classified into ``worker.messaging.errors``),
``status`` (the conversation walk and the monotonic status order), ``retries`` (retry, give up
or mark unknown after a transient failure), ``polling`` (when to poll a recipient),
``sampling`` (the uniform sample of a large audience) and ``estimate`` (a rate's 95 % interval
from that sample), ``content`` (which categories an IM REST bot carries, and their payload) and
``user_ids`` (recipients' int64 ids, at most 2^53 − 1). Thin connection code:
``transport`` (``ImRestTransport``, one pooled ``requests`` session).
"""

from worker.messaging.imrest.estimate import Estimate, RateEstimates, estimate_rates
from worker.messaging.imrest.marker import Marker, read_marker
from worker.messaging.imrest.polling import PollSchedule
from worker.messaging.imrest.retries import Verdict, after_transient
from worker.messaging.imrest.sampling import choose_sample, recipients_to_poll, sample_size
from worker.messaging.imrest.send_request import (
    ContentType,
    SendRequest,
    TargetType,
    build_send_request,
    split_targets,
)
from worker.messaging.imrest.settings import ImRestSettings
from worker.messaging.imrest.status import ConversationWalk, DeliveryStatus, StatusRow, later_status
from worker.messaging.imrest.transaction import transaction_id
from worker.messaging.imrest.transport import ImRestTransport, SendResult

__all__ = [
    "ContentType",
    "ConversationWalk",
    "DeliveryStatus",
    "Estimate",
    "ImRestSettings",
    "ImRestTransport",
    "Marker",
    "PollSchedule",
    "RateEstimates",
    "SendRequest",
    "SendResult",
    "StatusRow",
    "TargetType",
    "Verdict",
    "after_transient",
    "build_send_request",
    "choose_sample",
    "estimate_rates",
    "later_status",
    "read_marker",
    "recipients_to_poll",
    "sample_size",
    "split_targets",
    "transaction_id",
]
