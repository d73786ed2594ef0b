"""What an IM REST server and an operator's bot options can send: a refusal that quotes a huge
``data``, and options of any shape. A clean result or one bounded line, never another exception."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.messaging.errors import BatchRefused
from worker.messaging.imrest import ImRestSettings, ImRestTransport
from worker.messaging.imrest.settings import settings_from_options
from worker.messaging.imrest.transport import SHOWN_DATA_CHARS

pytestmark = pytest.mark.hostile

OPTIONS = {"base_url": "https://im.example.com", "app_id": "app", "from_user_id": 7}


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """An IM REST server that answers every send ``code 200`` with 1 MB of ``data``."""
    body = json.dumps({"code": 200, "data": "x" * 1_000_000, "message": None}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_refusal_quoting_a_huge_data_is_one_bounded_line(refusing_server: str) -> None:
    transport = ImRestTransport(
        ImRestSettings(base_url=refusing_server, app_id="app", access_token="token", from_user_id=7)
    )
    try:
        with pytest.raises(BatchRefused) as caught:
            transport.send_batch("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", [8, 9], 0, "hello")
    finally:
        transport.close()
    said = str(caught.value)
    assert "\n" not in said and len(said) < SHOWN_DATA_CHARS + 200
    assert "declined the batch" in said


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.lists(st.text(max_size=20), max_size=30),
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "from_user_id",
                "poll_delays",
                "batch_size",
                "timeout",
                "poll_share",
                "endpoint",
                "sample_above",
                "retry_horizon_seconds",
                "base_url",
                "token",
            ]
        ),
        _ANY,
        max_size=4,
    )
)
def test_bot_options_of_any_shape_give_settings_or_one_bounded_line(
    hostile: dict[str, object],
) -> None:
    try:
        settings_from_options({**OPTIONS, **hostile})
    except ValueError as error:
        said = str(error)
        assert "\n" not in said and len(said) < 300


def test_a_huge_poll_schedule_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="poll_delays must hold 1 to 20 delays"):
        settings_from_options({**OPTIONS, "poll_delays": ",".join(["60"] * 100_000)})
