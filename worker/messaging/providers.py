"""Build a bot's ``Provider`` from its row and the settings: the one place that knows them all.

Everything provider-specific that the layers above need is reached through the instance this
returns (``worker.messaging.provider.Provider``). Building one reads no secret; the credentials
are read when the provider first needs them (opening a transport, or the Mixin bot's user id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.config import ConfigError, Settings
from worker.messaging.credentials import read_secret
from worker.messaging.mixin.keystore import Keystore, load_keystore, parse_keystore
from worker.messaging.mixin.provider import MixinProvider
from worker.messaging.provider import Provider

PROVIDERS = ("mixin",)


@dataclass(frozen=True)
class BotAccess:
    """What building a bot's provider needs of its row (``models.Bot``), without a session."""

    id: int
    name: str
    provider: str
    credentials: str | None = None
    transport: str | None = None
    quota_per_minute: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def make_provider(bot: BotAccess, settings: Settings) -> Provider:
    """The provider of ``bot``; the default bot (no credentials reference) uses the settings."""
    if bot.provider != "mixin":
        raise ConfigError(
            f"bot {bot.name}: provider {bot.provider!r} cannot send yet (supported: "
            f"{', '.join(PROVIDERS)})"
        )
    return MixinProvider(
        lambda: load_mixin_keystore(bot, settings),
        transport=bot.transport or settings.transport,
        api_url=str(bot.options.get("api_url") or settings.mixin_api_url),
        blaze_url=str(bot.options.get("blaze_url") or settings.mixin_blaze_url),
        timeout=settings.request_timeout,
    )


def load_mixin_keystore(bot: BotAccess, settings: Settings) -> Keystore:
    """The bot's keystore: its credentials reference, or BLAZECAST_KEYSTORE for the default bot."""
    if bot.credentials is None:
        if settings.keystore is None:
            raise ConfigError(
                f"bot {bot.name}: BLAZECAST_KEYSTORE is not set; point it at the bot's keystore "
                "JSON file"
            )
        return load_keystore(settings.keystore)
    return parse_keystore(read_secret(bot.credentials), source=bot.credentials)
