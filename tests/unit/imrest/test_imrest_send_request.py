"""One batch, one request body (spec §2.6, §3.1): exact bytes, limits, attachment rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.messaging.errors import InvalidData
from worker.messaging.imrest.marker import Marker, read_marker
from worker.messaging.imrest.send_request import (
    MAX_BODY_BYTES,
    ContentType,
    SendRequest,
    TargetType,
    build_send_request,
    split_targets,
)

ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SENDER = 1099511627001


def build(**overrides: Any) -> SendRequest:
    arguments: dict[str, Any] = {
        "announcement_id": ANNOUNCEMENT,
        "endpoint": "send",
        "from_user_id": SENDER,
        "targets": [1099511627004, 1099511627002, 1099511627003],
        "content_type": ContentType.TEXT,
        "content": "Maintenance tonight 22:00-23:00 UTC",
    }
    arguments.update(overrides)
    return build_send_request(**arguments)


def test_the_spec_batch_example_is_reproduced_exactly() -> None:
    request = build()
    assert request.path == "/message/send"
    assert request.transaction_id == 3122641868399794
    expected = {
        "from_user_id": 1099511627001,
        "targets": [1099511627002, 1099511627003, 1099511627004],
        "type": 1,
        "content_type": 0,
        "content": "Maintenance tonight 22:00-23:00 UTC",
        "transaction_id": 3122641868399794,
        "ext": '{"blazecast":{"announcement_id":"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",'
        '"transaction_id":3122641868399794}}',
    }
    assert json.loads(request.body) == expected
    assert b'"targets":[1099511627002,1099511627003,1099511627004]' in request.body
    assert b"attachment" not in request.body


def test_notify_uses_its_own_path_and_id() -> None:
    request = build(endpoint="notify")
    assert request.path == "/message/notify"
    assert request.transaction_id == 7178256230690950


def test_the_ext_marker_reads_back_as_the_request() -> None:
    request = build()
    ext = json.loads(request.body)["ext"]
    assert read_marker(ext) == Marker(ANNOUNCEMENT, request.transaction_id)


def test_single_target_image_matches_the_spec_example() -> None:
    attachment = (
        '{"url":"https://files.example.com/poster.jpg","dName":"poster.jpg","fLen":508728,'
        '"width":828.0,"height":828.0}'
    )
    request = build(
        targets=[1099511627002],
        content_type=ContentType.IMAGE,
        content="Tonight's maintenance poster",
        attachment=attachment,
    )
    body = json.loads(request.body)
    assert body["attachment"] == attachment  # passed through verbatim
    assert body["transaction_id"] == 6195371454398710


def test_an_attachment_mapping_is_serialized_compactly() -> None:
    request = build(content_type=ContentType.FILE, attachment={"url": "https://x/f.pdf", "fLen": 3})
    assert json.loads(request.body)["attachment"] == '{"url":"https://x/f.pdf","fLen":3}'


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"content_type": ContentType.AUDIO}, "attachment"),
        ({"content_type": ContentType.VIDEO, "attachment": '{"dName":"no url"}'}, "attachment"),
        ({"content_type": ContentType.IMAGE, "attachment": "not json"}, "attachment"),
        ({"content_type": ContentType.TEXT, "attachment": '{"url":"https://x"}'}, "attachment"),
        ({"content_type": 8}, "content_type"),
        ({"content_type": True}, "content_type"),
        ({"target_type": 3}, "type"),
        ({"targets": [1099511627002, "1099511627003"]}, "targets"),
        ({"targets": [True]}, "targets"),
        ({"targets": [0]}, "targets"),
        ({"targets": list(range(1, 102))}, "targets"),
        ({"content": 5}, "content"),
    ],
)
def test_requests_the_server_would_refuse_are_refused_first(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidData) as caught:
        build(**overrides)
    assert caught.value.extra["field"] == field
    assert field in str(caught.value)


def test_a_body_over_128_kb_is_refused_and_one_just_under_goes() -> None:
    overhead = len(build(content="").body)
    fits = build(content="x" * (MAX_BODY_BYTES - overhead))
    assert len(fits.body) == MAX_BODY_BYTES
    with pytest.raises(InvalidData) as caught:
        build(content="x" * (MAX_BODY_BYTES - overhead + 1))
    assert caught.value.extra == {
        "field": "body",
        "bytes": MAX_BODY_BYTES + 1,
        "limit": MAX_BODY_BYTES,
    }


def test_size_counts_utf8_bytes_not_characters() -> None:
    overhead = len(build(content="").body)
    room_in_chars = (MAX_BODY_BYTES - overhead) // 3 + 1  # each "維" is 3 bytes
    with pytest.raises(InvalidData):
        build(content="維" * room_in_chars)


def test_group_batches_carry_type_2() -> None:
    request = build(targets=[4503599627370501], target_type=TargetType.GROUP)
    assert json.loads(request.body)["type"] == 2


def test_empty_and_repeated_targets_are_caller_bugs() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build(targets=[])
    with pytest.raises(ValueError, match="twice: 1099511627002"):
        build(targets=[1099511627002, 1099511627003, 1099511627002])


def test_split_targets_sorts_and_cuts_deterministically() -> None:
    ids = [50, 7, 300, 1, 99, 2]
    assert split_targets(ids, max_targets=4) == [(1, 2, 7, 50), (99, 300)]
    assert split_targets(reversed(ids), max_targets=4) == split_targets(ids, max_targets=4)
    assert [len(batch) for batch in split_targets(range(1, 251))] == [100, 100, 50]
