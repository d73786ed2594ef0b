"""FakeTransport: the stand-in the pipeline's unit tests use."""

from __future__ import annotations

import pytest
from messaging_helpers import outgoing as message

from worker.messaging.errors import Forbidden, RateLimited
from worker.messaging.fake import FakeTransport
from worker.messaging.transport import Transport


def test_fake_satisfies_the_transport_interface():
    assert isinstance(FakeTransport(), Transport)


def test_next_call_failures_then_success_and_duplicates_are_counted():
    fake = FakeTransport()
    batch = [message(i) for i in range(3)]
    fake.fail_next(lambda: RateLimited("Too Many Requests.", code=429), times=2)
    for _ in range(2):
        with pytest.raises(RateLimited):
            fake.send_messages(batch)
    fake.send_messages(batch)
    fake.send_messages(batch)  # a retry after a lost reply
    assert len(fake.calls) == 4 and len(fake.batches) == 2
    assert fake.duplicate_sends == 3
    assert fake.delivered_ids == {m.message_id for m in batch}


def test_a_poisoned_message_fails_every_batch_that_holds_it_until_isolated():
    fake = FakeTransport()
    good, bad = message(1), message(2)
    fake.fail_for(bad.message_id, Forbidden("Forbidden.", code=403))
    with pytest.raises(Forbidden):
        fake.send_messages([good, bad])
    assert fake.batches == []  # all or nothing
    fake.send_messages([good])
    with pytest.raises(Forbidden):
        fake.send_messages([bad])
    assert fake.sent_messages == [good]
    fake.clear_failures()
    fake.send_messages([bad])
    assert fake.delivered_ids == {good.message_id, bad.message_id}


def test_closed_fake_refuses_use():
    fake = FakeTransport()
    fake.close()
    with pytest.raises(RuntimeError):
        fake.send_messages([message(1)])
