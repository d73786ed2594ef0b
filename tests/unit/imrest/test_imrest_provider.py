"""``ImRestProvider`` as the pipeline sees it: messages, split, cost, horizon, options."""

from __future__ import annotations

import json
import uuid

import pytest

from worker.messaging.errors import InvalidData
from worker.messaging.imrest.provider import RECALL, RECALL_COST, ImRestProvider, _read
from worker.messaging.imrest.settings import NO_TOKEN, settings_from_options
from worker.messaging.provider import Addressee, InvalidContent, UnsupportedCategory

OPTIONS = {"base_url": "https://im.example.com", "app_id": "app", "from_user_id": 7}
ANNOUNCEMENT = uuid.UUID("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")


def provider(**options: object) -> ImRestProvider:
    policy = settings_from_options({**OPTIONS, **options})

    def refuse() -> object:
        raise AssertionError("deciding must not read the token")

    return ImRestProvider(refuse, policy=policy)  # type: ignore[arg-type]


def addressees(*ids: int) -> list[Addressee]:
    return [Addressee(str(i), str(uuid.uuid4())) for i in ids]


def test_one_payload_to_every_target_sorted_and_cut_to_the_batch_size() -> None:
    p = provider(batch_size=2)
    payload = p.encode_content("PLAIN_TEXT", "Hello")
    messages = p.messages(
        "PLAIN_TEXT", payload, None, addressees(30, 10, 20), announcement_id=ANNOUNCEMENT
    )
    chunks = p.split(messages, 100)
    assert [[m.recipient_id for m in chunk] for chunk in chunks] == [["10", "20"], ["30"]]
    batch = _read(chunks[0])
    assert batch.announcement_id == str(ANNOUNCEMENT)
    assert json.loads(batch.payload or "")["endpoint"] == "send"
    # A request is one token of the budget, whatever it carries.
    assert p.request_cost(chunks[0]) == 1
    p.check_batch(chunks[0])
    with pytest.raises(InvalidData, match="at most 2 per request"):
        p.check_batch(messages)


def test_a_recall_is_one_recipient_a_request_and_costs_a_walk_and_a_recall() -> None:
    p = provider()
    original = uuid.uuid4()
    messages = p.messages(
        "PLAIN_TEXT", None, original, addressees(1, 2), announcement_id=ANNOUNCEMENT
    )
    assert {m.category for m in messages} == {RECALL}
    chunks = p.split(messages, 100)
    assert [len(c) for c in chunks] == [1, 1]
    assert p.request_cost(chunks[0]) == RECALL_COST
    assert _read(chunks[0]).recall_of == str(original)


def test_the_retry_horizon_and_its_policy() -> None:
    assert provider().retry_horizon == 60.0
    assert provider().may_retry(59.9) and not provider().may_retry(60.0)
    assert provider(after_horizon="resend").may_retry(3600.0)


def test_endpoint_and_categories_are_checked_at_create() -> None:
    p = provider(endpoint="notify")
    assert json.loads(p.encode_content("PLAIN_TEXT", "x"))["endpoint"] == "notify"
    assert json.loads(p.encode_content("PLAIN_TEXT", "x", endpoint="send"))["endpoint"] == "send"
    with pytest.raises(InvalidContent, match="endpoint 'push'"):
        p.encode_content("PLAIN_TEXT", "x", endpoint="push")
    with pytest.raises(UnsupportedCategory, match="category APP_CARD"):
        p.encode_content("APP_CARD", {})


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"app_id": ""}, "app_id: required for an IM REST bot"),
        ({"from_user_id": "12a"}, "from_user_id: expected int, got '12a'"),
        ({"poll_delays": "60,x"}, "poll_delays: expected tuple"),
        ({"poll_delays": "60,10"}, "poll_delays must be positive and strictly increasing"),
        ({"token": "s3cret"}, "token: not an IM REST bot option"),
        ({"poll_share": 1.5}, "poll_share must be between 0 and 1"),
        ({"base_url": "ftp://x"}, "base_url must be an http(s) URL"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        settings_from_options({**OPTIONS, **options})


def test_the_policy_carries_no_token() -> None:
    assert settings_from_options(OPTIONS).access_token == NO_TOKEN
