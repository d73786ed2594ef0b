"""Fixtures for the messaging unit tests (helpers live in ``messaging_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from messaging_helpers import ScriptedBlaze, running_blaze_server, spec_keystore

from worker.messaging.mixin.keystore import Keystore


@pytest.fixture
def keystore() -> Keystore:
    return spec_keystore()


@pytest.fixture
def blaze_server(keystore: Keystore) -> Iterator[ScriptedBlaze]:
    with running_blaze_server(keystore) as server:
        yield server
