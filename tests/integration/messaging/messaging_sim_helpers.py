"""Helpers for the messaging tests against the simulator: messages, a listener, receipt waits."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from simulator import Simulator
from worker.messaging.errors import MessagingError
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.ids import message_id_for, unique_conversation_id
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.payloads import build_payload, encode_data
from worker.messaging.transport import IncomingMessage, OutgoingMessage, Receipt, Transport


def announcement(
    bot_id: str, user_ids: Sequence[str], text: str = "Hello from blazecast"
) -> list[OutgoingMessage]:
    """One PLAIN_TEXT announcement to every user, with deterministic message ids."""
    announcement_id = str(uuid.uuid4())
    data = encode_data(build_payload("PLAIN_TEXT", text))
    return [
        OutgoingMessage(
            conversation_id=unique_conversation_id(bot_id, user),
            recipient_id=user,
            message_id=message_id_for(announcement_id, user),
            category="PLAIN_TEXT",
            data_base64=data,
        )
        for user in user_ids
    ]


def wait_until(
    condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


class Listener:
    """A subscribed ``BlazeClient`` running ``run_forever`` in a thread, collecting pushes."""

    def __init__(self, keystore: Keystore, sim: Simulator, **options: Any) -> None:
        self._lock = threading.Lock()
        self.receipts: dict[str, set[str]] = {}
        self.incoming: list[IncomingMessage] = []
        self.failure: BaseException | None = None
        options.setdefault("backoff_base", 0.05)
        options.setdefault("backoff_cap", 0.2)
        self.client = BlazeClient(
            keystore, sim.blaze_url, sim.http_url, subscribe=True, on_push=self._on_push, **options
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-listener", daemon=True)

    def _on_push(self, push: Receipt | IncomingMessage) -> None:
        with self._lock:
            if isinstance(push, Receipt):
                self.receipts.setdefault(push.message_id, set()).add(push.status)
            else:
                self.incoming.append(push)

    def _run(self) -> None:
        try:
            self.client.run_forever(self._stop)
        except MessagingError as exc:
            self.failure = exc

    def start(self, sim: Simulator) -> Listener:
        self._thread.start()
        wait_until(lambda: sim.stats()["connections_listening"] >= 1, what="listener subscribed")
        return self

    def wait_read(self, message_ids: Sequence[str], timeout: float = 15.0) -> None:
        """Wait until every message has both DELIVERED and READ receipts."""

        def all_read() -> bool:
            with self._lock:
                return all(
                    {"DELIVERED", "READ"} <= self.receipts.get(m, set()) for m in message_ids
                )

        wait_until(all_read, timeout, what=f"receipts for {len(message_ids)} messages")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def send_isolating(transport: Transport, batch: list[OutgoingMessage]) -> dict[str, MessagingError]:
    """What the layer above does with a broken batch: split it until the bad ones stand alone.

    Returns the permanent failures by message id; everything else is accepted.
    """
    try:
        transport.send_messages(batch)
        return {}
    except MessagingError as exc:
        if len(batch) == 1:
            return {batch[0].message_id: exc}
    middle = len(batch) // 2
    return {
        **send_isolating(transport, batch[:middle]),
        **send_isolating(transport, batch[middle:]),
    }


def write_foreign_keystore(sim: Simulator, path: Path) -> Path:
    """The bot's ids with a key the simulator never registered: a bad or revoked key."""
    data = json.loads(Path(sim.keystore_path).read_text())
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    data["session_private_key"] = seed.hex()
    path.write_text(json.dumps(data))
    return path
