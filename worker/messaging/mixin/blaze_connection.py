"""One Blaze websocket connection: handshake, a reader thread, a pinger thread, requests.

The connection is deliberately thin (spec §7.4 "Recommendation"): the reader matches replies by
id before anything else (``ReplyTable``) and hands pushes to a callback; the pinger keeps the
socket alive and the reader's timeout declares it dead when nothing at all arrives. When the
connection ends, for any reason, every waiting request fails at once with the reason, and the
connection is never reused; ``BlazeClient`` opens a new one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import websocket

from worker.messaging.errors import ConnectionLost, MessagingError, Unauthorized, classify
from worker.messaging.mixin.correlation import ReplyTable
from worker.messaging.mixin.frames import (
    FrameError,
    OversizedFrame,
    ServerFrame,
    decode_frame,
    encode_frame,
    frame_error,
    parse_server_frame,
    push_from_frame,
    request_envelope,
)
from worker.messaging.transport import IncomingMessage, Receipt

log = logging.getLogger(__name__)

SUBPROTOCOL = "Mixin-Blaze-1"
PushHandler = Callable[[Receipt | IncomingMessage], None]


def open_connection(
    url: str,
    token: str,
    *,
    own_user_id: str,
    on_push: PushHandler | None,
    connect_timeout: float,
    ping_interval: float,
    liveness_timeout: float,
) -> BlazeConnection:
    """Dial ``url`` with the Bearer token and subprotocol; raise a ``MessagingError`` on failure.

    A 401 on the upgrade becomes ``Unauthorized``; every other failure is ``ConnectionLost``.
    """
    try:
        ws = websocket.create_connection(
            url,
            timeout=connect_timeout,
            header=[f"Authorization: Bearer {token}"],
            subprotocols=[SUBPROTOCOL],
            enable_multithread=True,
            class_=ReadAheadWebSocket,
        )
    except websocket.WebSocketBadStatusException as exc:
        if exc.status_code == 401:
            raise Unauthorized(
                "the websocket upgrade was refused with HTTP 401", code=401
            ) from None
        # A front's bare 500 or 429 on the upgrade classifies like any other HTTP answer.
        raise classify(
            exc.status_code, f"websocket upgrade refused with HTTP {exc.status_code}"
        ) from None
    except (OSError, websocket.WebSocketException) as exc:
        raise ConnectionLost(f"cannot open the websocket to {url}: {exc}") from None
    connection = BlazeConnection(
        ws,
        own_user_id=own_user_id,
        on_push=on_push,
        ping_interval=ping_interval,
        liveness_timeout=liveness_timeout,
    )
    connection.start()
    return connection


class ReadAheadWebSocket(websocket.WebSocket):
    """A websocket that reads the socket up to 64 KiB at a time.

    websocket-client asks its socket for every frame's header and payload separately, a system call
    each; receipts arrive as bursts of small frames, so one read usually holds dozens of them.
    Only the reader thread receives, so the read-ahead needs no lock.
    """

    READ_AHEAD = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = memoryview(b"")

    def _recv(self, bufsize: int) -> bytes:
        if not self._ahead:
            self._ahead = memoryview(super()._recv(max(bufsize, self.READ_AHEAD)))
        chunk, self._ahead = self._ahead[:bufsize], self._ahead[bufsize:]
        return chunk.tobytes()


class BlazeConnection:
    """A live websocket; use ``request`` from any thread. Built by ``open_connection``."""

    def __init__(
        self,
        ws: websocket.WebSocket,
        *,
        own_user_id: str,
        on_push: PushHandler | None,
        ping_interval: float,
        liveness_timeout: float,
    ) -> None:
        self._ws = ws
        self._own_user_id = own_user_id
        self._on_push = on_push
        self._ping_interval = ping_interval
        self._replies = ReplyTable()
        self._ended = threading.Event()
        self._end_reason: MessagingError | None = None
        self._end_lock = threading.Lock()
        # Any frame, pong included, must arrive within this; otherwise the peer is gone.
        ws.settimeout(liveness_timeout)
        self._reader = threading.Thread(target=self._read_loop, name="blaze-reader", daemon=True)
        self._pinger = threading.Thread(target=self._ping_loop, name="blaze-pinger", daemon=True)

    def start(self) -> None:
        """Start the reader and the pinger."""
        self._reader.start()
        self._pinger.start()

    @property
    def alive(self) -> bool:
        """False once the connection ended; it is then never used again."""
        return not self._ended.is_set()

    @property
    def end_reason(self) -> MessagingError | None:
        """Why the connection ended (``Unauthorized`` for a 401 ERROR frame), once it has."""
        return self._end_reason

    def request(self, action: str, params: Mapping[str, Any] | None, timeout: float) -> ServerFrame:
        """Send one request and wait for its reply; raises the classified error of an error reply."""
        envelope = request_envelope(action, params)
        waiter = self._replies.register(envelope["id"], action)
        try:
            self._ws.send_bytes(encode_frame(envelope))
        except (OSError, websocket.WebSocketException) as exc:
            self._replies.discard(envelope["id"])
            # The server may have said why it hung up (a 401 ERROR frame) in a frame the reader
            # has not handled yet; let it finish first so that reason wins over ours.
            self._reader.join(timeout=1.0)
            self._end(ConnectionLost(f"sending {action} failed: {exc}"))
            assert self._end_reason is not None
            raise _fresh_copy(self._end_reason) from None
        frame = waiter.wait(timeout)
        if frame.error is not None:
            raise frame_error(frame)
        return frame

    def close(self) -> None:
        """Say goodbye, end the connection and release the socket; safe to call twice."""
        if self.alive:
            # Best effort: the peer may already be gone, which is what close() is for.
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._ws.send_close()
        self._end(ConnectionLost("connection closed by the client"))
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=2.0)
        if threading.current_thread() is not self._pinger:
            self._pinger.join(timeout=2.0)
        self._ws.shutdown()

    def _end(self, reason: MessagingError) -> None:
        """Record the first reason, fail every waiter with it, and wake the reader."""
        with self._end_lock:
            if self._end_reason is None:
                self._end_reason = reason
            first = self._end_reason
        self._replies.close(lambda: _fresh_copy(first))
        self._ended.set()
        self._ws.abort()

    def _read_loop(self) -> None:
        try:
            while self.alive:
                opcode, payload = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self._end(ConnectionLost("the server closed the websocket"))
                elif opcode != websocket.ABNF.OPCODE_BINARY:
                    # Mixin only ever sends binary gzip frames (spec §2.1); anything else means
                    # we are not talking to Blaze, as the Go SDK also concludes.
                    self._end(ConnectionLost(f"unexpected websocket opcode {opcode}"))
                else:
                    self._handle(payload)
        except websocket.WebSocketTimeoutException:
            self._end(ConnectionLost("no frame from the server within the liveness timeout"))
        except (OSError, websocket.WebSocketException) as exc:
            self._end(ConnectionLost(f"websocket dropped: {type(exc).__name__}: {exc}"))
        except FrameError as exc:
            self._end(ConnectionLost(f"undecodable frame from the server: {exc}"))
        except Exception as exc:  # never leave callers waiting on a dead reader
            log.exception("blaze reader crashed")
            self._end(ConnectionLost(f"websocket reader crashed: {type(exc).__name__}"))
        finally:
            self._end(ConnectionLost("websocket reader stopped"))
            self._ws.shutdown()

    def _handle(self, payload: bytes) -> None:
        try:
            decoded = decode_frame(payload)
        except OversizedFrame as exc:
            # One bad frame is isolated: skipped (a push in it comes again on the next connect;
            # a reply in it times out its request), the frames after it are read as usual.
            log.warning("skipping a %d-byte frame from the server: %s", len(payload), exc)
            return
        frame = parse_server_frame(decoded)
        if self._replies.resolve(frame):
            return
        if frame.action == "ERROR":
            # An unsolicited ERROR (id all zeros): 401 means the token was refused (spec §1.4).
            self._end(frame_error(frame))
            return
        push = push_from_frame(frame, self._own_user_id)
        if push is None:
            log.debug("ignoring unmatched %s frame %s", frame.action, frame.id)
        elif self._on_push is not None:
            try:
                self._on_push(push)
            except MessagingError as exc:  # the consumer asked to drop the connection
                self._end(exc)
            except Exception:  # a bug in the consumer must not kill the reader
                log.exception("push handler failed for %s %s", frame.action, frame.id)

    def _ping_loop(self) -> None:
        while not self._ended.wait(self._ping_interval):
            try:
                self._ws.ping()
            except (OSError, websocket.WebSocketException) as exc:
                self._end(ConnectionLost(f"ping failed: {exc}"))


def _fresh_copy(error: MessagingError) -> MessagingError:
    """A new exception of the same class and fields, so threads never share a traceback."""
    clone = error.__class__.__new__(error.__class__)
    clone.__dict__.update(error.__dict__)
    clone.args = error.args
    return clone
