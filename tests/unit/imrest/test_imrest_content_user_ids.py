"""What an IM REST bot can carry (categories and files), and its recipients' int64 ids."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from worker.messaging.imrest.content import decode_payload, encode_content
from worker.messaging.imrest.send_request import ContentType
from worker.messaging.imrest.user_ids import check_user_id
from worker.messaging.provider import InvalidContent


def test_text_is_stored_as_a_text_request() -> None:
    content = decode_payload(encode_content("PLAIN_TEXT", "Maintenance tonight"))
    assert (content.content_type, content.content, content.attachment) == (
        ContentType.TEXT,
        "Maintenance tonight",
        None,
    )


def test_an_image_becomes_the_seeds_attachment_fields() -> None:
    stored = encode_content(
        "PLAIN_IMAGE",
        {
            "url": "https://files.example.com/poster.jpg",
            "name": "poster.jpg",
            "size": 508728,
            "width": 828,
            "height": 828,
            "caption": "Tonight's poster",
        },
    )
    content = decode_payload(stored)
    assert content.content_type is ContentType.IMAGE and content.content == "Tonight's poster"
    assert json.loads(content.attachment or "") == {
        "url": "https://files.example.com/poster.jpg",
        "dName": "poster.jpg",
        "fLen": 508728,
        "width": 828.0,
        "height": 828.0,
    }


@pytest.mark.parametrize(
    ("category", "kind"),
    [
        ("PLAIN_AUDIO", ContentType.AUDIO),
        ("PLAIN_VIDEO", ContentType.VIDEO),
        ("PLAIN_DATA", ContentType.FILE),
    ],
)
def test_files_map_to_their_content_type(category: str, kind: ContentType) -> None:
    stored = encode_content(category, {"url": "https://x.example/f", "duration": 3})
    assert decode_payload(stored).content_type is kind


@pytest.mark.parametrize("category", ["PLAIN_STICKER", "APP_CARD", "PLAIN_POST", "MESSAGE_PIN"])
def test_a_category_the_provider_cannot_carry_is_one_line_naming_it(category: str) -> None:
    with pytest.raises(InvalidContent, match=f"^category {category}: IM REST bots carry only"):
        encode_content(category, "x")


@pytest.mark.parametrize(
    ("category", "content", "words"),
    [
        ("PLAIN_TEXT", "  ", "PLAIN_TEXT: the text must be a non-empty string"),
        ("PLAIN_TEXT", {"text": "x"}, "PLAIN_TEXT: the text"),
        ("PLAIN_IMAGE", "https://x/p.jpg", "PLAIN_IMAGE: expected a JSON object"),
        ("PLAIN_IMAGE", {"url": "ftp://x/p.jpg"}, "PLAIN_IMAGE.url: must be an http"),
        ("PLAIN_IMAGE", {"url": "https://x/p", "size": -1}, "PLAIN_IMAGE.size: must be a non"),
        ("PLAIN_IMAGE", {"url": "https://x/p", "size": 1.5}, "PLAIN_IMAGE.size: must be a whole"),
        ("PLAIN_DATA", {"url": "https://x/p", "mime": "a"}, "PLAIN_DATA.mime: unknown field"),
        ("PLAIN_TEXT", "x" * (121 * 1024), "larger than"),
    ],
)
def test_bad_content_names_the_field(category: str, content: Any, words: str) -> None:
    with pytest.raises(InvalidContent, match=words.replace(".", r"\.")):
        encode_content(category, content)


def test_a_damaged_stored_payload_is_refused_before_sending() -> None:
    with pytest.raises(InvalidContent, match="stored IM REST payload"):
        decode_payload('{"content_type": 42, "content": "x"}')


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1099511627002", "1099511627002"),
        (" 42 ", "42"),
        ("007", "7"),
        (str(2**53 - 1), str(2**53 - 1)),
    ],
)
def test_user_ids_are_positive_integers_up_to_2_53(raw: str, canonical: str) -> None:
    assert check_user_id(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "a Mixin UUID"),
        ("-5", "a positive integer"),
        ("0", "a positive integer"),
        ("1e9", "a positive integer"),
        ("", "a positive integer"),
        (str(2**53), "beyond 2^53 - 1"),
        ("9" * 20, "beyond 2^53 - 1"),
        ("9" * 21, "a positive integer"),
    ],
)
def test_bad_user_ids_are_one_line_naming_the_field(raw: str, words: str) -> None:
    with pytest.raises(ValueError, match=f"^user_id .*{re.escape(words)}") as caught:
        check_user_id(raw)
    assert "\n" not in str(caught.value)
