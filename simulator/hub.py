"""Open websocket connections of the bots and where pushes go.

Each connection has an outbox drained by one writer task, so replies, pushes and pings are
written in the order they were produced and a slow client never blocks the event loop. Pushes
(receipts, user messages) go only to connections that sent LIST_PENDING_MESSAGES (checklist
item 9), one of them per push, in turn. With no listening connection, a receipt is dropped or,
if configured, queued until one appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Literal

from aiohttp import web

logger = logging.getLogger(__name__)

PushResult = Literal["sent", "queued", "dropped"]
# An outbox entry of None means "send a websocket ping".
_PING = None


class Connection:
    """One authenticated websocket of one bot."""

    def __init__(
        self, ws: web.WebSocketResponse, bot_id: str, transport: asyncio.Transport | None
    ) -> None:
        self.ws = ws
        self.bot_id = bot_id
        self.listening = False
        self._transport = transport
        self._outbox: deque[bytes | None] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, frame: bytes) -> None:
        """Queue one frame; never blocks."""
        self._outbox.append(frame)
        self._wake.set()

    def ping(self) -> None:
        self._outbox.append(_PING)
        self._wake.set()

    def cut(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        if self._transport is not None:
            self._transport.abort()

    async def _write_loop(self) -> None:
        ws, outbox = self.ws, self._outbox
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while outbox:
                    frame = outbox.popleft()
                    if frame is _PING:
                        await ws.ping()
                    else:
                        await ws.send_bytes(frame)
        except (ConnectionError, RuntimeError) as error:
            # The peer went away; the reader notices too and cleans up.
            logger.debug("writer of a %s connection stopped: %s", self.bot_id, error)

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class Hub:
    """Connections per bot, and the choice of which listening one receives a push."""

    def __init__(self, *, queue_offline: bool) -> None:
        self._queue_offline = queue_offline
        self.connections: set[Connection] = set()
        self._listeners: dict[str, list[Connection]] = {}
        self._turn: dict[str, int] = {}
        self._offline: dict[str, deque[bytes]] = {}

    def attach(self, connection: Connection) -> None:
        self.connections.add(connection)

    def detach(self, connection: Connection) -> None:
        self.connections.discard(connection)
        listeners = self._listeners.get(connection.bot_id)
        if listeners and connection in listeners:
            listeners.remove(connection)

    def listen(self, connection: Connection) -> None:
        """The connection sent LIST_PENDING_MESSAGES: from now on it receives pushes."""
        if not connection.listening:
            connection.listening = True
            self._listeners.setdefault(connection.bot_id, []).append(connection)
        queued = self._offline.pop(connection.bot_id, None)
        while queued:
            connection.send(queued.popleft())

    def has_listener(self, bot_id: str) -> bool:
        return bool(self._listeners.get(bot_id))

    def push(self, bot_id: str, frame: bytes) -> PushResult:
        """Send a push to one listening connection of the bot, in turn."""
        listeners = self._listeners.get(bot_id)
        if listeners:
            turn = self._turn.get(bot_id, 0)
            self._turn[bot_id] = turn + 1
            listeners[turn % len(listeners)].send(frame)
            return "sent"
        if self._queue_offline:
            self._offline.setdefault(bot_id, deque()).append(frame)
            return "queued"
        return "dropped"

    def ping_all(self) -> None:
        for connection in self.connections:
            connection.ping()
