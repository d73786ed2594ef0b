"""Audiences for benches: seeded user ids (some blocked), written for the simulator and copied
into ``recipients`` in one ``COPY``.

The same seed gives the same users and the same blocked ones, so a fault campaign run can be
repeated exactly; the simulator loads the file, so both sides agree on who blocked the bot.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from worker.messaging.mixin.ids import unique_conversation_id


@dataclass(frozen=True)
class Audience:
    user_ids: list[str]
    blocked: frozenset[str]

    @property
    def reachable(self) -> int:
        return len(self.user_ids) - len(self.blocked)


def make_audience(count: int, *, seed: int, blocked_fraction: float = 0.0) -> Audience:
    """``count`` distinct user ids from ``seed``; a ``blocked_fraction`` of them blocked the bot."""
    rng = random.Random(f"blazecast-bench-audience:{seed}")
    user_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
    blocked = frozenset(u for u in user_ids if rng.random() < blocked_fraction)
    return Audience(user_ids, blocked)


def write_users_file(audience: Audience, path: Path) -> Path:
    """The simulator's users file: ``user_id,blocked`` (its other traits come from its seed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "blocked"])
        writer.writerows([u, "1" if u in audience.blocked else "0"] for u in audience.user_ids)
    return path


def import_recipients(
    database_url: str,
    user_ids: list[str],
    bot_id: int,
    account_id: str | None,
    *,
    tags: list[str] | None = None,
) -> None:
    """Insert active recipients of bot ``bot_id`` (its row) with one ``COPY``; the conversation id
    is stored when the provider's id of the bot (``account_id``) is known, as ``blazecast users
    import`` does."""
    tag_array = "{" + ",".join(tags or []) + "}"
    buffer = io.StringIO()
    for user_id in user_ids:
        conversation = unique_conversation_id(account_id, user_id) if account_id else r"\N"
        buffer.write(f"{bot_id}\t{user_id}\t{conversation}\t{tag_array}\n")
    buffer.seek(0)
    with contextlib.closing(psycopg2.connect(database_url)) as connection:
        with connection.cursor() as cursor:
            cursor.copy_expert(
                "COPY recipients (bot_id, user_id, conversation_id, tags) FROM STDIN", buffer
            )
            cursor.execute("ANALYZE recipients")
        connection.commit()
