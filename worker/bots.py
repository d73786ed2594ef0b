"""Bots as rows: add, list, show, disable, which bot a command means, and its provider.

The CLI (``blazecast bots``), the Python API and the workers call these. A bot's secret is never
stored: ``add_bot`` checks that its credentials reference can be read and parsed (and takes the
provider's id of the bot from it, so that two bots never share one key), then stores only the
reference. ``make_provider`` is the one place that turns a bot's row and the settings into its
``Provider`` (``worker.messaging.provider``), reading no secret until the provider needs one.
``BLAZECAST_KEYSTORE`` keeps working with no configuration: when the first command that needs a
bot finds none, it creates the ``default`` bot, which reads its key, quota and transport from the
settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import DEFAULT_BOT_NAME, Announcement, AnnouncementStatus, Bot, BotProvider
from worker.config import ConfigError, Settings
from worker.messaging.credentials import check_reference, read_secret
from worker.messaging.imrest import user_ids as imrest_user_ids
from worker.messaging.imrest.provider import ImRestProvider
from worker.messaging.imrest.settings import ImRestSettings, settings_from_options
from worker.messaging.mixin.ids import canonical_uuid
from worker.messaging.mixin.keystore import Keystore, load_keystore, parse_keystore
from worker.messaging.mixin.provider import TRANSPORT_KINDS, MixinProvider
from worker.messaging.provider import Provider
from worker.ratelimit import BucketSpec, poll_share_spec, quota_spec
from worker.timezones import shown

ACTIVE_STATUSES = (
    AnnouncementStatus.SCHEDULED,
    AnnouncementStatus.SENDING,
    AnnouncementStatus.PAUSED,
)
MAX_NAME = 64
PROVIDERS = ("mixin", "imrest")
#: An IM REST bot's budget when none is given: 10 requests a second (spec §4, an assumption).
DEFAULT_IMREST_QUOTA = 600
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


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
    if bot.provider == "imrest":
        return ImRestProvider(
            lambda: imrest_settings(bot, settings, read_token=True),
            policy=imrest_settings(bot, settings),
        )
    if bot.provider != "mixin":
        raise ConfigError(
            f"bot {bot.name}: provider {bot.provider!r} is not one of {', '.join(PROVIDERS)}"
        )
    return MixinProvider(
        lambda: load_mixin_keystore(bot, settings),
        transport=bot.transport or settings.transport,
        api_url=str(bot.options.get("api_url") or settings.mixin_api_url),
        blaze_url=str(bot.options.get("blaze_url") or settings.mixin_blaze_url),
        timeout=settings.request_timeout,
    )


def imrest_settings(
    bot: BotAccess, settings: Settings, *, read_token: bool = False
) -> ImRestSettings:
    """An IM REST bot's settings from its options; with ``read_token`` the access token is read
    from its credentials reference (otherwise a placeholder: enough to decide, not to send)."""
    try:
        if not read_token:
            return settings_from_options(bot.options, timeout=settings.request_timeout)
        if bot.credentials is None:
            raise ConfigError(f"bot {bot.name}: an IM REST bot needs a token reference")
        token = read_secret(bot.credentials).strip()
        return settings_from_options(bot.options, token, timeout=settings.request_timeout)
    except ValueError as error:  # CredentialsError names the reference, never the secret
        raise ConfigError(f"bot {bot.name}: {error}") from None


def user_id_checker(provider_name: str) -> Callable[[str], str]:
    """The ``check_user_id`` of provider ``provider_name`` (canonical text, or ``ValueError``
    naming the field), without the keys or settings that building the provider needs."""
    if provider_name == BotProvider.MIXIN:
        return _mixin_user_id
    if provider_name == BotProvider.IMREST:
        return imrest_user_ids.check_user_id
    raise ConfigError(f"provider {provider_name!r}: unknown (known: mixin, imrest)")


def any_user_id(raw: str) -> str:
    """The canonical text of a user id of any provider, for input read before its bot is known
    (an audience file); the bot's own check runs when the announcement is created."""
    for check in (_mixin_user_id, imrest_user_ids.check_user_id):
        try:
            return check(raw)
        except ValueError:
            pass
    raise ValueError(f"user_id: {shown(raw)} is neither a Mixin UUID nor an IM REST user id")


def _mixin_user_id(raw: str) -> str:
    # MixinProvider.check_user_id (which needs no keystore either), with a fast path for text
    # already canonical, the common case: a users import checks every row.
    text = raw.strip()
    if _CANONICAL_UUID.fullmatch(text):
        return text
    return canonical_uuid(text, "user_id")


def load_mixin_keystore(bot: BotAccess, settings: Settings) -> Keystore:
    """The bot's keystore: its credentials reference, or BLAZECAST_KEYSTORE for the default bot."""
    if bot.credentials is None:
        if settings.keystore is None:
            raise ConfigError(
                f"bot {bot.name}: BLAZECAST_KEYSTORE: not set; point it at the bot's keystore "
                "JSON file"
            )
        return load_keystore(settings.keystore)
    return parse_keystore(read_secret(bot.credentials), source=bot.credentials)


class BotError(ValueError):
    """An operator's bot request that cannot be done; the message is one line."""


@dataclass(frozen=True)
class BotSummary:
    """A bot as ``bots list`` / ``bots show`` print it (never the secret, only its reference)."""

    id: int
    name: str
    provider: str
    credentials: str
    account_id: str | None
    quota_per_minute: int
    quota_unit: str
    transport: str
    disabled: bool
    halted_reason: str | None
    announcements_active: int


def access(bot: Bot) -> BotAccess:
    return BotAccess(
        id=bot.id,
        name=bot.name,
        provider=str(bot.provider),
        credentials=bot.credentials,
        transport=bot.transport,
        quota_per_minute=bot.quota_per_minute,
        options=dict(bot.options or {}),
    )


def quota_of(
    bot_id: int, quota_per_minute: int | None, settings: Settings, *, provider: str = "mixin"
) -> BucketSpec:
    """The bot's quota bucket: its own quota (or the setting's), shared by every process.

    A quota that counts requests (IM REST) is taken one token per request, so its send unit is
    one request and its burst a couple: 98.8 % of 600 requests a minute on paper, where the
    unit of a message quota (10 at that size) would leave 97.4 %.
    """
    counts_requests = BotProvider(provider).quota_counts_requests
    return quota_spec(
        str(bot_id),
        quota_per_minute or settings.quota_per_minute,
        batch_size=1 if counts_requests else settings.batch_size,
        delta_seconds=settings.quota_delta_seconds,
        window_seconds=settings.quota_window_seconds,
    )


def poll_share_of(provider: Provider, bot: BotAccess, settings: Settings) -> BucketSpec | None:
    """The bucket of the share of the bot's budget its status polling may use; None when the
    provider pushes its receipts."""
    polling = provider.status_polling
    if polling is None:
        return None
    return poll_share_spec(
        str(bot.id),
        bot.quota_per_minute or settings.quota_per_minute,
        polling.poll_share,
        delta_seconds=settings.quota_delta_seconds,
        window_seconds=settings.quota_window_seconds,
    )


def provider_of(bot: Bot, settings: Settings) -> Provider:
    """The bot's provider (reads no secret until it sends)."""
    return make_provider(access(bot), settings)


def add_bot(
    session: Session,
    settings: Settings,
    *,
    name: str,
    credentials: str,
    provider: str = "mixin",
    quota_per_minute: int | None = None,
    transport: str | None = None,
    options: dict[str, Any] | None = None,
) -> Bot:
    """Store a new bot after checking its name, settings and credentials (read, never stored).

    An IM REST bot's ``options`` hold ``base_url``, ``app_id`` and ``from_user_id`` (the sending
    account), and optionally the policies of ``ImRestSettings``; its quota counts requests.
    """
    name = _check_name(name)
    if provider not in PROVIDERS:
        raise BotError(f"provider {provider!r}: expected one of {', '.join(PROVIDERS)}")
    if quota_per_minute is not None and quota_per_minute < 2:
        raise BotError(f"quota {quota_per_minute}: must be at least 2 messages a minute")
    if transport is not None and transport not in TRANSPORT_KINDS:
        raise BotError(f"transport {transport!r}: expected one of {', '.join(TRANSPORT_KINDS)}")
    try:
        reference = check_reference(credentials)
    except ValueError as error:
        raise BotError(str(error)) from None
    if _find(session, name) is not None:
        raise BotError(f"bot {name}: a bot with this name exists already")
    candidate = BotAccess(0, name, provider, reference, transport, quota_per_minute, options or {})
    try:
        if provider == BotProvider.IMREST:
            if transport is not None:
                raise BotError(f"bot {name}: transport: IM REST bots send over HTTP only")
            imrest = imrest_settings(candidate, settings, read_token=True)
            account = f"imrest:{imrest.app_id}:{imrest.from_user_id}"
            quota_per_minute = quota_per_minute or DEFAULT_IMREST_QUOTA
        else:
            account = str(load_mixin_keystore(candidate, settings).app_id)
    except ValueError as error:  # KeystoreError, CredentialsError: both name the reference only
        raise BotError(f"bot {name}: {error}") from None
    _refuse_shared_account(session, settings, name, account)
    bot = Bot(
        name=name,
        provider=BotProvider(provider),
        credentials=reference,
        account_id=account,
        quota_per_minute=quota_per_minute,
        transport=transport,
        options=options or {},
    )
    session.add(bot)
    session.flush()
    return bot


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not all(c.isalnum() or c in "-_." for c in name):
        raise BotError(f"bot name {name[:80]!r}: use 1-{MAX_NAME} letters, digits, '-', '_' or '.'")
    return name


def _refuse_shared_account(session: Session, settings: Settings, name: str, account: str) -> None:
    owner = session.execute(select(Bot.name).where(Bot.account_id == account)).scalar_one_or_none()
    if owner is None:
        default = _find(session, DEFAULT_BOT_NAME)
        if default is not None and default.credentials is None and settings.keystore is not None:
            try:
                if str(load_mixin_keystore(access(default), settings).app_id) == account:
                    owner = default.name
            except ValueError:
                pass
    if owner is not None:
        what = "app and sending account" if account.startswith("imrest:") else "keystore"
        raise BotError(f"bot {name}: bot {owner} already uses this {what} ({account})")


def _find(session: Session, name: str) -> Bot | None:
    return session.execute(select(Bot).where(Bot.name == name)).scalar_one_or_none()


def resolve_bot(session: Session, settings: Settings, name: str | None = None) -> Bot:
    """The bot a command means: the one named, or the only enabled one, or (none yet) the
    default bot."""
    if name is not None:
        bot = _find(session, name.strip())
        if bot is None:
            known = ", ".join(session.execute(select(Bot.name).order_by(Bot.name)).scalars())
            raise BotError(f"bot {name[:80]!r}: no such bot (bots: {known or 'none'})")
        if bot.disabled_at is not None:
            raise BotError(f"bot {bot.name} is disabled")
        return bot
    enabled = list(
        session.execute(select(Bot).where(Bot.disabled_at.is_(None)).order_by(Bot.id)).scalars()
    )
    if len(enabled) == 1:
        return enabled[0]
    if len(enabled) > 1:
        names = ", ".join(b.name for b in enabled)
        raise BotError(f"there are several bots ({names}): name one with --bot")
    # No bot yet: the default one, whose key (BLAZECAST_KEYSTORE) is needed only to send.
    return ensure_default_bot(session)


def ensure_default_bot(session: Session) -> Bot:
    """The ``default`` bot (key, quota and transport from the settings), created if missing."""
    existing = _find(session, DEFAULT_BOT_NAME)
    if existing is not None:
        return existing
    # Two commands may both find no bot at once: the unique name makes one of them win.
    session.execute(
        insert(Bot)
        .values(name=DEFAULT_BOT_NAME, provider=BotProvider.MIXIN)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    session.flush()
    found = _find(session, DEFAULT_BOT_NAME)
    assert found is not None
    return found


def list_bots(session: Session, settings: Settings) -> list[BotSummary]:
    active = dict(
        session.execute(
            select(Announcement.bot_id, func.count())
            .where(Announcement.status.in_(ACTIVE_STATUSES))
            .group_by(Announcement.bot_id)
        ).all()
    )
    bots = session.execute(select(Bot).order_by(Bot.id)).scalars()
    return [_summary(bot, settings, active.get(bot.id, 0)) for bot in bots]


def show_bot(session: Session, settings: Settings, name: str) -> BotSummary:
    bot = _find(session, name.strip())
    if bot is None:
        raise BotError(f"bot {name[:80]!r}: no such bot")
    return next(s for s in list_bots(session, settings) if s.id == bot.id)


def disable_bot(session: Session, name: str) -> Bot:
    """Stop a bot for good; refused while it has announcements scheduled, sending or paused."""
    bot = _find(session, name.strip())
    if bot is None:
        raise BotError(f"bot {name[:80]!r}: no such bot")
    active = list(
        session.execute(
            select(Announcement.id)
            .where(Announcement.bot_id == bot.id, Announcement.status.in_(ACTIVE_STATUSES))
            .limit(4)
        ).scalars()
    )
    if active:
        shown = ", ".join(str(a)[:8] for a in active[:3]) + (" …" if len(active) > 3 else "")
        raise BotError(
            f"bot {bot.name} has announcements scheduled, sending or paused ({shown}): "
            "cancel them first"
        )
    if bot.disabled_at is None:
        bot.disabled_at = func.now()
    session.flush()
    return bot


def _summary(bot: Bot, settings: Settings, active: int) -> BotSummary:
    return BotSummary(
        id=bot.id,
        name=bot.name,
        provider=str(bot.provider),
        credentials=bot.credentials or "BLAZECAST_KEYSTORE",
        account_id=bot.account_id,
        quota_per_minute=bot.quota_per_minute or settings.quota_per_minute,
        quota_unit="requests" if bot.provider == BotProvider.IMREST else "messages",
        transport=(
            "http" if bot.provider == BotProvider.IMREST else bot.transport or settings.transport
        ),
        disabled=bot.disabled_at is not None,
        halted_reason=bot.halted_reason,
        announcements_active=active,
    )


def bots_by_id(session: Session, ids: Sequence[int]) -> dict[int, Bot]:
    return {b.id: b for b in session.execute(select(Bot).where(Bot.id.in_(ids))).scalars()}
