"""The read-ahead websocket hands websocket-client exactly the bytes it asks for, in order."""

from __future__ import annotations

import os
import socket
import threading

import websocket

from worker.messaging.mixin.blaze_connection import ReadAheadWebSocket


def _server_frame(payload: bytes, opcode: int = websocket.ABNF.OPCODE_BINARY) -> bytes:
    # Server frames are never masked (RFC 6455 §5.1).
    return websocket.ABNF(fin=1, opcode=opcode, mask_value=0, data=payload).format()


def test_bursts_of_small_frames_and_frames_larger_than_one_read_arrive_whole_and_in_order() -> None:
    payloads = [os.urandom(n) for n in (1, 125, 126, 300, 70_000, 3, 200_000, 65_535, 40)]
    payloads += [b"receipt %d" % i for i in range(500)]
    wire = b"".join(_server_frame(p) for p in payloads)
    ours, theirs = socket.socketpair()

    def write_in_odd_pieces() -> None:
        # Pieces that cut headers and payloads anywhere, as TCP may.
        at, size = 0, 1
        while at < len(wire):
            theirs.sendall(wire[at : at + size])
            at, size = at + size, size * 7 % 9_973 + 1
        theirs.close()

    writer = threading.Thread(target=write_in_odd_pieces)
    writer.start()
    ws = ReadAheadWebSocket(skip_utf8_validation=True)
    ws.sock, ws.connected = ours, True
    ours.settimeout(5)
    try:
        received = [ws.recv_data()[1] for _ in payloads]
    finally:
        writer.join(5)
        ours.close()
    assert received == payloads
