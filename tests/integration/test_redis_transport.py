"""The workers' Redis transport: one client per channel, replaced with the channel's pool."""

from __future__ import annotations

import uuid

from kombu import Connection

from worker import redis_transport
from worker.db import Urls


def test_a_channel_reuses_one_client_until_its_pool_is_replaced(engine_urls: Urls) -> None:
    with Connection(engine_urls.redis, transport=redis_transport.Transport) as connection:
        channel = connection.default_channel
        # Real traffic through the shared client: a message goes through a queue and back.
        queue = connection.SimpleQueue(f"blazecast-test-{uuid.uuid4()}")
        try:
            queue.put({"batch": 7})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"batch": 7}
        finally:
            queue.queue.delete()
            queue.close()
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert second is first
            assert first.connection_pool is channel.pool
        channel._disconnect_pools()  # what kombu does after a fork
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()
