"""How many messages per second the simulator sustains with receipts on.

Starts `python -m simulator` in its own process (quota lifted, every message DELIVERED and READ),
then drives it from this process with hand-rolled frames over aiohttp (not blazecast's client):
one sending websocket pipelining CREATE_PLAIN_MESSAGES batches of 100 at a target rate, and one
listening websocket (LIST_PENDING_MESSAGES) that decodes every receipt push. It prints the
figures and a one-line summary, and writes them as JSON to bench/results/.

    .venv/bin/python bench/simulator_throughput.py                 # offer 4,000 msg/s for 20 s
    .venv/bin/python bench/simulator_throughput.py --rate 0        # as fast as it goes

It passes when every full second of the run accepted at least 3,400 messages, no reply was an
error and no receipt was dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from cryptography.hazmat.primitives.asymmetric import ed25519

REQUIRED_RATE = 3400  # twice the default quota of 100,000 messages per minute, rounded up
# Offered by default: above the bar, so that one slow wall-clock second shows as a failure.
DEFAULT_RATE = 4000
BATCH = 100
RESULTS = Path(__file__).resolve().parent / "results"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def websocket_token(keystore: dict[str, str]) -> str:
    now = int(time.time())
    claims = {
        "uid": keystore["app_id"],
        "sid": keystore["session_id"],
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
        "sig": hashlib.sha256(b"GET/").hexdigest(),
        "scp": "FULL",
    }
    signed = b64url(b'{"alg":"EdDSA","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(keystore["session_private_key"])
    )
    return f"{signed}.{b64url(key.sign(signed.encode()))}"


def conversation_id(a: str, b: str) -> str:
    low, high = sorted((a, b))
    digest = bytearray(hashlib.md5((low + high).encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def start_simulator(workdir: Path, users: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--users",
        str(users),
        "--users-out",
        str(workdir / "users.csv"),
        "--keystore-out",
        str(workdir / "keystore.json"),
        "--quota-per-minute",
        "100000000",
        "--read-probability",
        "1",
        "--never-read-fraction",
        "0",
        "--blocked-fraction",
        "0",
        "--delivery-median",
        "0.3",
        "--read-median",
        "1.0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    printed: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        label, _, value = line.partition(":")
        printed[label.strip()] = value.strip()
        if label == "Stats":
            break
    return process, printed


class Listener:
    """Counts the receipt pushes arriving on a LIST_PENDING_MESSAGES connection."""

    def __init__(self) -> None:
        self.receipts: dict[str, int] = {"DELIVERED": 0, "READ": 0}
        self.read_ids: set[str] = set()

    async def run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_bytes(
            gzip.compress(
                json.dumps({"id": str(uuid.uuid4()), "action": "LIST_PENDING_MESSAGES"}).encode()
            )
        )
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            frame = json.loads(gzip.decompress(message.data))
            if frame.get("action") == "ACKNOWLEDGE_MESSAGE_RECEIPT":
                status = frame["data"]["status"]
                self.receipts[status] += 1
                if status == "READ":
                    self.read_ids.add(frame["data"]["message_id"])


class Sender:
    """Pipelines CREATE_PLAIN_MESSAGES batches, at most `window` awaiting their reply."""

    def __init__(self, bot_id: str, users: list[str], window: int) -> None:
        self.bot_id = bot_id
        self.users = users
        self.conversations = {user: conversation_id(bot_id, user) for user in users}
        self.window = asyncio.Semaphore(window)
        self.waiting: dict[str, float] = {}
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.sent_messages = 0
        self.message_ids: list[str] = []
        self._next_user = 0

    def frame(self) -> tuple[str, bytes]:
        messages = []
        for _ in range(BATCH):
            user = self.users[self._next_user % len(self.users)]
            self._next_user += 1
            message_id = str(uuid.uuid4())
            self.message_ids.append(message_id)
            messages.append(
                {
                    "conversation_id": self.conversations[user],
                    "recipient_id": user,
                    "message_id": message_id,
                    "category": "PLAIN_TEXT",
                    "data_base64": b64url(f"Announcement for {user}".encode()),
                }
            )
        request_id = str(uuid.uuid4())
        envelope = {
            "id": request_id,
            "action": "CREATE_PLAIN_MESSAGES",
            "params": {"messages": messages},
        }
        return request_id, gzip.compress(json.dumps(envelope).encode(), compresslevel=3)

    async def read_replies(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            frame = json.loads(gzip.decompress(message.data))
            sent_at = self.waiting.pop(frame.get("id"), None)
            if sent_at is None:
                continue
            self.latencies.append(time.perf_counter() - sent_at)
            if "error" in frame:
                code = str(frame["error"]["code"])
                self.errors[code] = self.errors.get(code, 0) + 1
            self.window.release()

    async def send(
        self, ws: aiohttp.ClientWebSocketResponse, rate: float, duration: float
    ) -> float:
        started = time.perf_counter()
        batches = 0
        while (elapsed := time.perf_counter() - started) < duration:
            if rate > 0:
                due = int(elapsed * rate / BATCH) + 1
                if batches >= due:
                    await asyncio.sleep((batches * BATCH / rate) - elapsed)
                    continue
            await self.window.acquire()
            request_id, data = self.frame()
            self.waiting[request_id] = time.perf_counter()
            await ws.send_bytes(data)
            batches += 1
            self.sent_messages += BATCH
        while self.waiting and time.perf_counter() - started < duration + 10:
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def drive(
    printed: dict[str, str], keystore: dict[str, str], users: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {websocket_token(keystore)}"}
    sender = Sender(keystore["app_id"], users, args.window)
    listener = Listener()
    async with aiohttp.ClientSession() as session:
        listen_ws = await session.ws_connect(
            printed["Blaze"], headers=headers, protocols=("Mixin-Blaze-1",), max_msg_size=0
        )
        send_ws = await session.ws_connect(
            printed["Blaze"], headers=headers, protocols=("Mixin-Blaze-1",), max_msg_size=0
        )
        listening = asyncio.create_task(listener.run(listen_ws))
        replies = asyncio.create_task(sender.read_replies(send_ws))
        await asyncio.sleep(0.3)
        elapsed = await sender.send(send_ws, args.rate, args.duration)
        # Give the last receipts (READ lags delivery by ~1 s, capped at 120 s) a moment to land.
        drain_deadline = time.perf_counter() + args.drain
        while (
            time.perf_counter() < drain_deadline and len(listener.read_ids) < sender.sent_messages
        ):
            await asyncio.sleep(0.1)
        async with session.get(printed["HTTP API"] + "/_sim/stats") as response:
            stats = await response.json()
        await send_ws.close()
        await listen_ws.close()
        for task in (listening, replies):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    steady = [n for second, n in stats["accepted_per_second"]][1:-1]  # drop the partial edges
    return {
        "target_rate": args.rate,
        "duration_s": round(elapsed, 2),
        "messages_sent": sender.sent_messages,
        "send_rate_msg_s": round(sender.sent_messages / elapsed, 1),
        "accepted": stats["messages_accepted"],
        "steady_seconds": len(steady),
        "min_accepted_per_second": min(steady, default=0),
        "median_accepted_per_second": statistics.median(steady) if steady else 0,
        "reply_latency_ms_p50": round(percentile(sender.latencies, 0.50) * 1000, 2),
        "reply_latency_ms_p99": round(percentile(sender.latencies, 0.99) * 1000, 2),
        "errors": sender.errors,
        "receipts_received": listener.receipts,
        "receipts_sent_by_simulator": stats["receipts_sent"],
        "receipts_dropped": stats["receipts_dropped"],
        "messages_read": len(listener.read_ids),
        "receipt_frames_per_second": round(
            sum(listener.receipts.values()) / (elapsed + args.drain), 1
        ),
        "accepted_per_second": [n for _, n in stats["accepted_per_second"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="messages/s to offer (0 = unpaced)"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--window", type=int, default=8, help="batches awaiting a reply at most")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--drain", type=float, default=8.0, help="seconds to wait for the last receipts"
    )
    args = parser.parse_args()

    # Other work on the machine competes for the two cores; the figures record how much.
    load_before = psutil.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as folder:
        workdir = Path(folder)
        process, printed = start_simulator(workdir, args.users)
        try:
            keystore = json.loads((workdir / "keystore.json").read_text())
            users = (workdir / "users.csv").read_text().split()[1:]
            server = psutil.Process(process.pid)
            cpu_before = server.cpu_times()
            results = asyncio.run(drive(printed, keystore, users, args))
            cpu_after = server.cpu_times()
        finally:
            process.terminate()
            process.communicate(timeout=30)
    busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    results["simulator_cpu_s"] = round(busy, 2)
    results["simulator_cpu_percent_of_one_core"] = round(
        100 * busy / (results["duration_s"] + args.drain), 1
    )
    results["machine"] = {
        "cpus": psutil.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(psutil.getloadavg()[0], 2),
    }
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    for key, value in results.items():
        print(f"{key:36} {value}")
    ok = (
        results["min_accepted_per_second"] >= REQUIRED_RATE
        and not results["errors"]
        and results["receipts_dropped"] == 0
    )
    mode = "unpaced" if args.rate == 0 else f"offered {args.rate:.0f} msg/s"
    print(
        f"SUMMARY simulator ({mode}, receipts on): {results['send_rate_msg_s']:.0f} msg/s over "
        f"{results['duration_s']:.0f} s, slowest second {results['min_accepted_per_second']} msg/s, "
        f"reply p99 {results['reply_latency_ms_p99']} ms, {sum(results['receipts_received'].values())} receipts "
        f"({results['messages_read']} of {results['messages_sent']} READ), "
        f"simulator CPU {results['simulator_cpu_percent_of_one_core']}% of a core -> "
        f"{'OK' if ok else 'BELOW'} the {REQUIRED_RATE} msg/s bar"
    )
    RESULTS.mkdir(exist_ok=True)
    name = "simulator_throughput_unpaced.json" if args.rate == 0 else "simulator_throughput.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
