"""Drive the Mixin simulator with hand-built frames and check every answer against the spec.

Nothing here comes from blazecast's client or from the simulator's modules: tokens are signed,
frames gzipped and replies compared with the shapes of specs/mixin-protocol.md by this file
alone (websocket-client, requests, cryptography). Each check prints what was sent and received.

    .venv/bin/python scripts/probe_simulator.py                        # starts its own simulator
    .venv/bin/python scripts/probe_simulator.py --http-url http://127.0.0.1:7000 \\
        --blaze-url ws://127.0.0.1:7000/ --keystore .blazecast/simulator/keystore.json

Exits 1 if any answer differs from the documented shape.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import websocket
from cryptography.hazmat.primitives.asymmetric import ed25519

UNAUTHORIZED = {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."}
failures: list[str] = []


def check(name: str, ok: bool, detail: Any = "") -> None:
    print(f"[{'OK' if ok else 'MISMATCH'}] {name}" + (f"\n       {detail}" if detail != "" else ""))
    if not ok:
        failures.append(name)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(keystore: dict[str, str], method: str = "GET", uri: str = "/", body: bytes = b"", **claims: Any) -> str:
    now = int(time.time())
    payload = {"uid": keystore["app_id"], "sid": keystore["session_id"], "iat": now, "exp": now + 600,
               "jti": str(uuid.uuid4()), "sig": hashlib.sha256(method.encode() + uri.encode() + body).hexdigest(),
               "scp": "FULL", **claims}
    signed = b64url(b'{"alg":"EdDSA","typ":"JWT"}') + "." + b64url(json.dumps(payload).encode())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(keystore["session_private_key"]))
    return f"{signed}.{b64url(key.sign(signed.encode()))}"


def conversation_id(a: str, b: str) -> str:
    low, high = sorted((a, b))
    digest = bytearray(hashlib.md5((low + high).encode()).digest())
    digest[6], digest[8] = (digest[6] & 0x0F) | 0x30, (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


class Socket:
    def __init__(self, url: str, bearer: str) -> None:
        self.ws = websocket.create_connection(url, header=[f"Authorization: Bearer {bearer}"],
                                              subprotocols=["Mixin-Blaze-1"], timeout=10)
        self.kept: list[dict[str, Any]] = []

    def send(self, envelope: dict[str, Any]) -> None:
        print(f"  -> {json.dumps(envelope)[:160]}")
        self.ws.send_bytes(gzip.compress(json.dumps(envelope).encode()))

    def next(self, match: Any, timeout: float = 10.0) -> dict[str, Any] | None:
        for frame in self.kept:
            if match(frame):
                self.kept.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return None
            frame = json.loads(gzip.decompress(data))
            print(f"  <- {json.dumps(frame)[:160]}")
            if match(frame):
                return frame
            self.kept.append(frame)
        return None

    def call(self, action: str, params: Any = None) -> dict[str, Any] | None:
        request_id = str(uuid.uuid4())
        self.send({"id": request_id, "action": action, **({"params": params} if params is not None else {})})
        return self.next(lambda f: f.get("id") == request_id)

    def close(self) -> None:
        self.ws.close()
        self.ws.shutdown()


def probe(http_url: str, blaze_url: str, keystore: dict[str, str]) -> None:
    bot = keystore["app_id"]
    http = requests.Session()

    def api(method: str, path: str, body: Any = None) -> requests.Response:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token(keystore, method, path, data)}", "X-Request-Id": str(uuid.uuid4()),
                   "Content-Type": "application/json"}
        print(f"  -> {method} {path} {data[:120].decode()}")
        response = http.request(method, http_url + path, data=data, headers=headers, timeout=10)
        print(f"  <- {response.status_code} {response.text[:160]}")
        return response

    print("1. websocket with an expired token")
    bad = Socket(blaze_url, token(keystore, exp=int(time.time()) - 1))
    frame = bad.next(lambda f: True)
    check("ERROR 401 push, id all zeros", frame == {"id": "00000000-0000-0000-0000-000000000000", "action": "ERROR",
                                                    "error": UNAUTHORIZED}, frame)
    bad.close()

    print("2. HTTP with a token signed for another path")
    response = http.get(http_url + "/me", headers={"Authorization": f"Bearer {token(keystore, 'GET', '/other')}"}, timeout=10)
    check("HTTP 202 + 401 body + X-Server-Time", response.status_code == 202 and response.json() == {"error": UNAUTHORIZED}
          and "X-Server-Time" in response.headers, dict(response.headers))

    print("3. a user adds the bot and says /start (control endpoint)")
    user = str(uuid.uuid4())
    created = http.post(f"{http_url}/_sim/users/{user}/messages", json={"text": "/start"}, timeout=10).json()["messages"]
    check("first contact greets with Hello", [m["text"] for m in created] == ["Hello", "/start"], created)

    print("4. listening connection: LIST_PENDING_MESSAGES, then the backlog")
    listener = Socket(blaze_url, token(keystore))
    check("subprotocol echoed", listener.ws.getsubprotocol() == "mixin-blaze-1")
    reply = listener.call("LIST_PENDING_MESSAGES")
    check("bare {id, action} reply", reply is not None and set(reply) == {"id", "action"}, reply)
    backlog = [listener.next(lambda f: f.get("action") == "CREATE_MESSAGE") for _ in created]
    check("backlog replayed oldest first with source LIST_PENDING_MESSAGES",
          [f and base64.b64decode(f["data"]["data"]) for f in backlog] == [b"Hello", b"/start"]
          and all(f and f["data"]["source"] == "LIST_PENDING_MESSAGES" for f in backlog))
    acks = [{"message_id": m["message_id"], "status": "READ"} for m in created]
    reply = listener.call("ACKNOWLEDGE_MESSAGE_RECEIPTS", {"messages": acks})
    check("acks answered bare", reply is not None and "error" not in reply, reply)

    def message(text: str) -> dict[str, str]:
        return {"conversation_id": conversation_id(bot, user), "recipient_id": user, "message_id": str(uuid.uuid4()),
                "category": "PLAIN_TEXT", "data_base64": b64url(text.encode())}

    print("5. CREATE_MESSAGE, CREATE_PLAIN_MESSAGES and POST /messages")
    sender = Socket(blaze_url, token(keystore))
    single = message("single")
    reply = sender.call("CREATE_MESSAGE", single)
    view = (reply or {}).get("data", {})
    check("CREATE_MESSAGE reply is a status-only view", view.get("status") == "SENT" and view.get("user_id") == bot
          and view.get("conversation_id") == "" and view.get("category") == "" and view.get("message_id") == single["message_id"], view)
    batch = [message("one"), message("two")]
    reply = sender.call("CREATE_PLAIN_MESSAGES", {"messages": batch})
    check("CREATE_PLAIN_MESSAGES reply is bare", reply is not None and set(reply) == {"id", "action"}, reply)
    over_http = message("over http")
    response = api("POST", "/messages", [over_http])
    check("POST /messages answers {} and echoes X-Request-Id", response.json() == {}
          and response.headers.get("X-Request-Id") == response.request.headers["X-Request-Id"])

    print("6. receipts on the listening connection, for both transports")
    sent = [single, *batch, over_http]
    for item in sent:
        delivered = listener.next(lambda f, i=item: f.get("action") == "ACKNOWLEDGE_MESSAGE_RECEIPT"
                                  and f["data"]["message_id"] == i["message_id"] and f["data"]["status"] == "DELIVERED")
        data = (delivered or {}).get("data", {})
        check(f"DELIVERED for {item['message_id'][:8]} in the §3.5 shape",
              data.get("conversation_id") == "" and data.get("user_id") == "" and data.get("category") == ""
              and data.get("data") == "" and data.get("created_at") == "0001-01-01T00:00:00Z"
              and data.get("source") == "ACKNOWLEDGE_MESSAGE_RECEIPT", data)

    print("7. a re-sent message_id, and batches that break the rules")
    reply = sender.call("CREATE_MESSAGE", single)
    check("re-send answers SENT", ((reply or {}).get("data") or {}).get("status") == "SENT", reply)
    reply = sender.call("CREATE_PLAIN_MESSAGES", {"messages": [message(str(n)) for n in range(101)]})
    error = (reply or {}).get("error", {})
    check("101 messages -> 10002 naming messages", error.get("code") == 10002 and error.get("extra", {}).get("field") == "messages", error)
    broken = {**message("x"), "message_id": single["message_id"].upper()}
    error = api("POST", "/messages", [broken]).json().get("error", {})
    check("uppercase message_id -> 10002 naming message_id", error.get("code") == 10002
          and error.get("extra", {}).get("field") == "message_id", error)

    print("8. an injected 7000 fault")
    http.post(f"{http_url}/_sim/faults", json={"error_rate": {"7000": 1.0}}, timeout=10)
    reply = sender.call("CREATE_MESSAGE", message("faulty"))
    check("error frame {status 500, code 7000}", (reply or {}).get("error", {}).get("code") == 7000
          and reply is not None and reply["error"]["status"] == 500 and reply["action"] == "CREATE_MESSAGE", reply)
    http.post(f"{http_url}/_sim/faults", json={}, timeout=10)

    stats = http.get(f"{http_url}/_sim/stats", timeout=10).json()
    print("9. what the simulator saw: " + json.dumps({k: stats[k] for k in (
        "messages_accepted", "distinct_message_ids", "duplicate_message_ids", "visible_messages",
        "receipts_sent", "errors_sent")}))
    check("the duplicate was counted, never shown twice", stats["duplicate_message_ids"] >= 1
          and stats["visible_messages"] <= stats["distinct_message_ids"])
    listener.close()
    sender.close()
    http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-url")
    parser.add_argument("--blaze-url")
    parser.add_argument("--keystore", type=Path)
    args = parser.parse_args()
    if args.http_url and args.blaze_url and args.keystore:
        probe(args.http_url, args.blaze_url, json.loads(args.keystore.read_text()))
    else:
        from simulator import SimConfig, Simulator, UserBehaviour  # only to host the server

        with Simulator(SimConfig(port=0, users=10, behaviour=UserBehaviour.fast())) as sim:
            probe(sim.http_url, sim.blaze_url, json.loads(sim.keystore_path.read_text()))
    print(f"\n{len(failures)} mismatch(es)" + (": " + ", ".join(failures) if failures else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
