"""kombu's Redis transport, with a channel whose close() survives a dead pending BRPOP, and that
reuses one Redis client for its commands.

A workaround for a kombu bug (5.7.0): ``Channel.close()`` first reads the reply of a pending BRPOP
(kombu/transport/redis.py:1892-1896), and a connection error there aborts the close before the
channel is marked closed or its unacknowledged messages are restored. When Redis goes away while a
worker holds such messages and waits in BRPOP (a task running, prefetch not used up), the clean-up
``connection.collect()`` leaves that channel open (the remote-control channel fails to close too,
which ends kombu's loop over the channels) and then sets ``transport.client = None``
(kombu/connection.py:429). Celery's ``connection.close()`` (celery/worker/consumer/consumer.py:487)
closes the channel again; restoring its messages builds a pool from
``self.connection.client.hostname`` (kombu/transport/redis.py:1957-1959); the ``AttributeError``
ends the worker ("Unrecoverable error").

kombu also builds a new ``redis.Redis`` client for every publish, ack and event
(``Channel.conn_or_acquire``, kombu/transport/redis.py:2085), and redis-py 8 fills ~170 response
callbacks into each new client: a publish cost ~776 µs of CPU, ~570 µs with one client per channel
(its commands still take connections from the channel's pool one at a time, so sharing it is
safe; a new pool, after a fork or a reconnect, gets a new client).

Workers select this transport with ``broker_transport`` (``worker/celery_app.py``); the broker URL
is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from queue import Empty
from typing import Any

from kombu.transport import redis

TRANSPORT = "worker.redis_transport:Transport"


class Channel(redis.Channel):
    _shared_client: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared_client = self._create_client()
        yield shared

    def close(self) -> None:
        if self._in_poll:
            # A dead BRPOP connection must not abort the close: finished now, while the transport
            # still knows the broker, it is not closed again later by a transport without one.
            with contextlib.suppress(Empty, *self.connection_errors):
                self._brpop_read()
        super().close()


class Transport(redis.Transport):
    Channel = Channel
