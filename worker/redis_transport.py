"""kombu's Redis transport, with a channel whose close() survives a dead pending BRPOP.

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

Workers select this transport with ``broker_transport`` (``worker/celery_app.py``); the broker URL
is unchanged.
"""

from __future__ import annotations

import contextlib
from queue import Empty

from kombu.transport import redis

TRANSPORT = "worker.redis_transport:Transport"


class Channel(redis.Channel):
    def close(self) -> None:
        if self._in_poll:
            # A dead BRPOP connection must not abort the close: finished now, while the transport
            # still knows the broker, it is not closed again later by a transport without one.
            with contextlib.suppress(Empty, *self.connection_errors):
                self._brpop_read()
        super().close()


class Transport(redis.Transport):
    Channel = Channel
