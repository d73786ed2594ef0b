"""The conversation walk (spec §2.2, §3.3): which pages to read and which statuses count."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.messaging.errors import ServerError
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.status import ConversationWalk, later_status

SENDER = 1099511627001
USER = 1099511627002
ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SINCE = 1_767_225_600_000


def ext(transaction: int, announcement: str = ANNOUNCEMENT) -> str:
    inner = {"announcement_id": announcement, "transaction_id": transaction}
    return json.dumps({"blazecast": inner}, separators=(",", ":"))


def message(
    msg_id: int,
    *,
    status: str = "UNREAD",
    ext_text: str = "",
    sender: int = SENDER,
    timestamp: int = SINCE + 1000,
) -> dict[str, Any]:
    return {
        "msg_id": msg_id,
        "from_xid": {"uid": sender, "device_sn": 0},
        "to_xid": {"uid": USER if sender == SENDER else SENDER, "device_sn": 0},
        "ctype": "TEXT",
        "content": "hi",
        "attachment": "",
        "config": "",
        "ext": ext_text,
        "status": status,
        "timestamp": timestamp,
    }


def page(
    messages: list[dict[str, Any]], *, next_msg_id: int = 0, is_last: bool = False
) -> dict[str, Any]:
    return {"is_last": is_last, "next_msg_id": next_msg_id, "messages": messages}


def walk(marker: Marker | None = None) -> ConversationWalk:
    return ConversationWalk(
        sender_id=SENDER, opposite_id=USER, marker=marker or Marker(ANNOUNCEMENT), since_ms=SINCE
    )


def test_the_spec_example_page_yields_the_read_announcement() -> None:
    w = walk()
    cursor = w.feed(
        page(
            [
                message(8725424416047104, status="READ", ext_text=ext(3122641868399794)),
                message(8725424416046592, status="READ", sender=USER),
            ],
            next_msg_id=8725424416046080,
        ),
        w.first_cursor(),
    )
    assert cursor == 8725424416046080  # more pages may hold more of this announcement
    [row] = w.rows
    assert (row.msg_id, row.status, row.provider_status) == (8725424416047104, "READ", "READ")
    assert row.transaction_id == 3122641868399794 and row.opposite_id == USER


@pytest.mark.parametrize(
    ("word", "status"), [("UNREAD", "SENT"), ("DELIVERED", "DELIVERED"), ("READ", "READ")]
)
def test_provider_words_map_onto_blazecast_statuses(word: str, status: str) -> None:
    w = walk()
    w.feed(page([message(10, status=word, ext_text=ext(1))], is_last=True), 0)
    assert [row.status for row in w.rows] == [status]


def test_an_unknown_status_word_moves_nothing() -> None:
    w = walk()
    w.feed(page([message(10, status="RECALLED", ext_text=ext(1))], is_last=True), 0)
    assert w.rows == []


def test_other_messages_are_not_taken() -> None:
    w = walk(Marker(ANNOUNCEMENT, 7))
    w.feed(
        page(
            [
                message(15, ext_text=ext(8)),  # another request of the announcement
                message(14, ext_text=ext(7, "another-announcement")),
                message(13, ext_text=ext(7), sender=USER),  # the user quoting our ext
                message(12, ext_text='{"blazecast":{"announcement_id":1,"transaction_id":"7"}}'),
                message(11, ext_text="not json"),
            ],
            is_last=True,
        ),
        0,
    )
    assert w.rows == []


def test_the_walk_stops_at_the_last_page() -> None:
    w = walk()
    assert w.feed(page([message(20, ext_text=ext(1))], next_msg_id=19, is_last=True), 0) is None


def test_the_walk_stops_once_pages_are_older_than_the_announcement() -> None:
    w = walk()
    old = message(19, ext_text=ext(1), timestamp=SINCE - 1)
    assert w.feed(page([message(20, ext_text=ext(1)), old], next_msg_id=18), 0) is None
    assert [row.msg_id for row in w.rows] == [20]


def test_the_walk_stops_when_a_page_brings_nothing_new() -> None:
    w = walk()
    first = page([message(20), message(19)], next_msg_id=19)
    assert w.feed(first, 0) == 19
    assert w.feed(page([message(20), message(19)], next_msg_id=19), 19) is None


def test_a_cursor_that_does_not_move_back_in_time_stops_the_walk() -> None:
    w = walk()
    assert w.feed(page([message(20)], next_msg_id=19), 0) == 19
    assert w.feed(page([message(18)], next_msg_id=25), 19) is None


def test_a_known_transaction_stops_at_its_message() -> None:
    w = walk(Marker(ANNOUNCEMENT, 5))
    assert w.feed(page([message(20, ext_text=ext(5))], next_msg_id=19), 0) is None
    assert len(w.rows) == 1


def test_an_inclusive_cursor_repeats_a_message_and_status_never_goes_back() -> None:
    w = walk()
    assert (
        w.feed(page([message(21), message(20, status="READ", ext_text=ext(1))], next_msg_id=20), 0)
        == 20
    )
    assert (
        w.feed(
            page([message(20, status="DELIVERED", ext_text=ext(1)), message(19)], next_msg_id=18),
            20,
        )
        == 18
    )
    assert [(row.msg_id, row.status) for row in w.rows] == [(20, "READ")]


def test_all_messages_of_an_announcement_are_found_newest_first() -> None:
    w = walk()
    assert w.feed(page([message(30, ext_text=ext(2)), message(29)], next_msg_id=28), 0) == 28
    w.feed(page([message(28, status="READ", ext_text=ext(1))], is_last=True), 28)
    assert [(row.msg_id, row.transaction_id) for row in w.rows] == [(30, 2), (28, 1)]
    assert w.pages == 2


@pytest.mark.parametrize("data", [None, True, {"messages": "none"}, {"is_last": True}])
def test_a_reply_that_is_not_a_page_is_a_server_fault(data: Any) -> None:
    with pytest.raises(ServerError):
        walk().feed(data, 0)


def test_later_status_never_goes_back() -> None:
    assert later_status(None, "SENT") == "SENT"
    assert later_status("SENT", "READ") == "READ"
    assert later_status("READ", "DELIVERED") == "READ"
    assert later_status("DELIVERED", "DELIVERED") == "DELIVERED"
