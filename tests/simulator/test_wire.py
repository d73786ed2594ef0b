"""Server frame encoding: valid gzip of one JSON object, and fresh version-4 push ids."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from simulator.wire import encode_frame, gzip_member, new_id, receipt_frame, status_view


@pytest.mark.parametrize("size", [0, 1, 300, 65_535, 65_536, 200_000])
def test_gzip_member_is_valid_gzip_for_any_size(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert gzip.decompress(gzip_member(data)) == data


def test_receipt_frame_is_the_status_view_as_json() -> None:
    frame = json.loads(gzip.decompress(receipt_frame("0b9f2c4e-2f7b-4b51-8a6e-6c2b7f0d9a01", "READ", 1_547_091_863_787_562_000)))
    assert frame["data"] == status_view("0b9f2c4e-2f7b-4b51-8a6e-6c2b7f0d9a01", "READ", "2019-01-10T03:44:23.787562000Z")
    assert json.loads(gzip.decompress(encode_frame(frame))) == frame


def test_push_ids_are_distinct_version_4_uuids() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    for value in list(ids)[:100]:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)
