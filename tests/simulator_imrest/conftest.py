"""Fixtures: a fresh IM REST simulator per test (port 0) and a hand-built `requests` client.

The client builds every request itself (headers, JSON, query), so these tests check the
simulator against the spec, not against blazecast's own client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from simulator.imrest import ImRestSimulator
from tests.imrest_support import simulator_factory

_CALL_OPTIONS = ("token", "app_id", "user_id", "headers", "timeout")


class Api:
    """`requests` with the IM REST headers; every call returns the raw response."""

    def __init__(self, sim: ImRestSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.trust_env = False

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        params: dict[str, Any] | None = None,
        user_id: int | None = None,
        token: str | None = None,
        app_id: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        sent = {
            "app_id": self.sim.app_id if app_id is None else app_id,
            "access-token": self.sim.admin_token if token is None else token,
        }
        if user_id is not None:
            sent["user_id"] = str(user_id)
        sent.update(headers or {})
        sent = {name: value for name, value in sent.items() if value != ""}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = "application/json"
        return self.session.request(
            method,
            self.sim.base_url + path,
            data=data,
            params=params,
            headers=sent,
            timeout=timeout,
        )

    def json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        response = self.call(method, path, **options)
        assert response.status_code == 200, response.text
        envelope = response.json()
        assert isinstance(envelope, dict)
        return envelope

    def send(
        self,
        targets: list[int],
        *,
        content: str = "hello",
        endpoint: str = "send",
        method: str = "POST",
        **fields: Any,
    ) -> dict[str, Any]:
        """A text send; `token`, `app_id`, `user_id`, `headers` go to the call, the rest to the body."""
        options = {name: fields.pop(name) for name in _CALL_OPTIONS if name in fields}
        body = {"targets": targets, "type": 1, "content_type": 0, "content": content, **fields}
        return self.json(method, f"/message/{endpoint}", body=body, **options)

    def page(
        self, user_id: int, opposite_id: int, *, start: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        params = {"limit": limit, "msg_id_start": start, "opposite_id": opposite_id}
        return self.json("GET", "/message/conversation", params=params, user_id=user_id)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., ImRestSimulator]]:
    """Start a simulator with the given ImRestConfig fields (fast recipients, 20 users)."""
    with simulator_factory(users=20) as make:
        yield make


@pytest.fixture
def sim(make_sim: Callable[..., ImRestSimulator]) -> ImRestSimulator:
    return make_sim()


@pytest.fixture
def make_api() -> Iterator[Callable[[ImRestSimulator], Api]]:
    made: list[Api] = []

    def make(sim: ImRestSimulator) -> Api:
        api = Api(sim)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(sim: ImRestSimulator, make_api: Callable[[ImRestSimulator], Api]) -> Api:
    return make_api(sim)
