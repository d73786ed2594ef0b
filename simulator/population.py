"""The simulated Mixin users and their conversations with the bots.

Users are generated from the seed (same seed, same ids and behaviours) or loaded from a file.
Each user's fixed traits (blocked, never reads, devices, offline for a while, in contact or not)
are drawn once here; per-message delays are drawn when a message arrives (`receipts.py`).
Conversation ids are precomputed per bot so that checking a message costs one dict lookup.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from simulator.config import UserBehaviour
from simulator.ids import is_lowercase_uuid, random_uuid, unique_conversation_id, unique_object_id

_TRUE_WORDS = {"1", "true", "yes", "y"}


@dataclass(slots=True)
class User:
    """One simulated recipient. `online_after` is seconds after start when devices connect."""

    user_id: str
    blocked: bool = False
    never_read: bool = False
    devices: int = 1
    online_after: float = 0.0

    def session_id(self, device: int = 0) -> str:
        """A stable session id per device, for the MessageViews the user sends."""
        return unique_object_id(self.user_id, f"device-{device}")


def _draw_user(user_id: str, behaviour: UserBehaviour, rng: random.Random) -> User:
    devices = 1
    if rng.random() < behaviour.multi_device_fraction and behaviour.max_devices > 1:
        devices = rng.randint(2, behaviour.max_devices)
    online_after = 0.0
    if rng.random() < behaviour.offline_fraction:
        online_after = rng.lognormvariate(0.0, 1.0) * behaviour.offline_median
    return User(
        user_id=user_id,
        blocked=rng.random() < behaviour.blocked_fraction,
        never_read=rng.random() < behaviour.never_read_fraction,
        devices=devices,
        online_after=online_after,
    )


def read_users_file(path: Path) -> list[dict[str, str]]:
    """Rows of a users file: CSV with a `user_id` header, or a JSON list of ids or objects."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list")
        return [{"user_id": item} if isinstance(item, str) else dict(item) for item in items]
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "user_id" not in reader.fieldnames:
        raise ValueError(f"{path}: the CSV needs a user_id header")
    return list(reader)


class Population:
    """All simulated users and, per bot, the conversations that exist with them."""

    def __init__(self, bot_ids: list[str], behaviour: UserBehaviour, seed: int) -> None:
        self.behaviour = behaviour
        self._rng = random.Random(f"blazecast-simulator-users:{seed}")
        self.users: dict[str, User] = {}
        self._bot_ids = bot_ids
        # bot -> user -> conversation id, and bot -> conversation id -> user, for existing ones.
        self._conversation_of: dict[str, dict[str, str]] = {bot: {} for bot in bot_ids}
        self._user_in: dict[str, dict[str, str]] = {bot: {} for bot in bot_ids}

    @classmethod
    def generate(
        cls, bot_ids: list[str], behaviour: UserBehaviour, seed: int, count: int
    ) -> Population:
        population = cls(bot_ids, behaviour, seed)
        for _ in range(count):
            user = _draw_user(random_uuid(population._rng), behaviour, population._rng)
            population._add(
                user, contact=population._rng.random() >= behaviour.non_contact_fraction
            )
        return population

    @classmethod
    def load(
        cls, bot_ids: list[str], behaviour: UserBehaviour, seed: int, path: Path
    ) -> Population:
        """Users from a file; traits missing from a row are drawn from the seed."""
        population = cls(bot_ids, behaviour, seed)
        for number, row in enumerate(read_users_file(path), start=2):
            user_id = str(row.get("user_id", "")).strip()
            if not is_lowercase_uuid(user_id):
                raise ValueError(
                    f"{path}: row {number}: user_id {user_id!r} is not a lowercase UUID"
                )
            user = _draw_user(user_id, behaviour, population._rng)
            if row.get("blocked") not in (None, ""):
                user.blocked = str(row["blocked"]).strip().lower() in _TRUE_WORDS
            if row.get("never_read") not in (None, ""):
                user.never_read = str(row["never_read"]).strip().lower() in _TRUE_WORDS
            if row.get("devices") not in (None, ""):
                user.devices = max(1, int(row["devices"]))
            population._add(user, contact=True)
        return population

    def _add(self, user: User, *, contact: bool) -> None:
        self.users[user.user_id] = user
        if contact:
            for bot_id in self._bot_ids:
                self.add_contact(bot_id, user.user_id)

    @property
    def user_ids(self) -> list[str]:
        return list(self.users)

    def add_user(self, user_id: str) -> User:
        """A user met for the first time (a message from an unknown id): traits from the seed."""
        user = self.users.get(user_id)
        if user is None:
            user = _draw_user(user_id, self.behaviour, self._rng)
            self.users[user_id] = user
        return user

    def add_contact(self, bot_id: str, user_id: str) -> str:
        """Make the CONTACT conversation exist (idempotent); returns its id."""
        conversation_id = self._conversation_of[bot_id].get(user_id)
        if conversation_id is None:
            conversation_id = unique_conversation_id(bot_id, user_id)
            self._conversation_of[bot_id][user_id] = conversation_id
            self._user_in[bot_id][conversation_id] = user_id
        return conversation_id

    def conversation_of(self, bot_id: str, user_id: str) -> str | None:
        """The existing CONTACT conversation between the bot and the user, if any."""
        return self._conversation_of[bot_id].get(user_id)

    def user_in(self, bot_id: str, conversation_id: str) -> str | None:
        """The user on the other side of an existing CONTACT conversation of the bot."""
        return self._user_in[bot_id].get(conversation_id)

    def write_csv(self, path: Path) -> Path:
        """The user ids as CSV with a `user_id` header (what `blazecast users import` reads)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user_id"])
            writer.writerows([user_id] for user_id in self.users)
        return path
