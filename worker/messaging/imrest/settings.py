"""``ImRestSettings``: what the IM REST client needs to know, passed in as plain values.

Nothing here reads the environment (STYLE 8): ``worker/config.py`` builds this object at the
edge. Every default is an [ASSUMPTION] of ``specs/im-rest-protocol.md`` §4, kept configurable so
it can be revisited once the real server's behaviour is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from worker.messaging.imrest.polling import DEFAULT_POLL_DELAYS, PollSchedule
from worker.messaging.imrest.sampling import DEFAULT_MARGIN, DEFAULT_SAMPLE_ABOVE

Endpoint = Literal["send", "notify"]
AfterHorizon = Literal["mark_unknown", "resend"]

ENDPOINTS: tuple[Endpoint, ...] = ("send", "notify")
AFTER_HORIZON_POLICIES: tuple[AfterHorizon, ...] = ("mark_unknown", "resend")

#: §4: at most 100 targets per request (the seed states no limit).
DEFAULT_BATCH_SIZE = 100
#: §4: the dedup window blazecast assumes, and so its retry horizon.
DEFAULT_RETRY_HORIZON_SECONDS = 60.0
#: §1.1: requests time out after 10 s.
DEFAULT_TIMEOUT_SECONDS = 10.0
#: §2.2: messages asked for per ``GET /message/conversation`` page.
DEFAULT_PAGE_LIMIT = 50
#: Issue 12: polling may use at most this share of the bot's request budget.
DEFAULT_POLL_SHARE = 0.2
#: §5.1: an unknown ``code`` is retried at most this many times, then the batch fails.
DEFAULT_UNKNOWN_CODE_RETRIES = 3


@dataclass(frozen=True)
class ImRestSettings:
    """One IM REST app as blazecast uses it.

    ``from_user_id`` is the account announcements are sent from; status polling and recall act
    as that user (``user_id`` header, spec §1.2). ``endpoint`` picks ``/message/send`` (chat
    messages) or ``/message/notify`` (system notifications). ``after_horizon`` says what a
    retry does once ``retry_horizon_seconds`` have passed since a batch's first attempt: the
    server may have forgotten its ``transaction_id`` by then, so ``"mark_unknown"`` (at most
    once) stops, while ``"resend"`` (at least once) sends again with the same id (spec §3.2).

    Status polling: each recipient is polled ``poll_delays`` seconds after its batch was sent
    (``polling.PollSchedule``); audiences above ``sample_above`` recipients are polled through a
    uniform sample sized for ±``sample_margin`` (``sampling``); polling may use at most
    ``poll_share`` of the bot's request budget.
    """

    base_url: str
    app_id: str
    access_token: str = field(repr=False)  # a credential: never shown in logs or errors
    from_user_id: int
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    batch_size: int = DEFAULT_BATCH_SIZE
    retry_horizon_seconds: float = DEFAULT_RETRY_HORIZON_SECONDS
    endpoint: Endpoint = "send"
    after_horizon: AfterHorizon = "mark_unknown"
    page_limit: int = DEFAULT_PAGE_LIMIT
    unknown_code_retries: int = DEFAULT_UNKNOWN_CODE_RETRIES
    poll_delays: tuple[float, ...] = DEFAULT_POLL_DELAYS
    sample_above: int = DEFAULT_SAMPLE_ABOVE
    sample_margin: float = DEFAULT_MARGIN
    poll_share: float = DEFAULT_POLL_SHARE

    def __post_init__(self) -> None:
        scheme = urlsplit(self.base_url).scheme
        if scheme not in ("http", "https") or not urlsplit(self.base_url).netloc:
            # Not quoted: a URL may carry a password.
            raise ValueError("base_url must be an http(s) URL")
        if not self.app_id:
            raise ValueError("app_id must not be empty")
        if not self.access_token:
            raise ValueError("access_token must not be empty")
        if isinstance(self.from_user_id, bool) or not 0 < self.from_user_id < 2**63:
            raise ValueError("from_user_id must be a positive int64")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 1 <= self.batch_size <= DEFAULT_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {DEFAULT_BATCH_SIZE}")
        if self.retry_horizon_seconds < 0:
            raise ValueError("retry_horizon_seconds must not be negative")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if self.after_horizon not in AFTER_HORIZON_POLICIES:
            raise ValueError(f"after_horizon must be one of {', '.join(AFTER_HORIZON_POLICIES)}")
        if not 1 <= self.page_limit <= 100:
            raise ValueError("page_limit must be between 1 and 100")
        if self.unknown_code_retries < 0:
            raise ValueError("unknown_code_retries must not be negative")
        PollSchedule(tuple(self.poll_delays))  # raises ValueError naming poll_delays
        if self.sample_above < 0:
            raise ValueError("sample_above must not be negative")
        if not 0 < self.sample_margin < 0.5:
            raise ValueError("sample_margin must be between 0 and 0.5")
        if not 0 < self.poll_share < 1:
            raise ValueError("poll_share must be between 0 and 1")

    @property
    def poll_schedule(self) -> PollSchedule:
        """When to poll a recipient after its batch was sent."""
        return PollSchedule.of(self.poll_delays)

    def may_resend(self, first_attempt_at: float, now: float) -> bool:
        """Whether a batch first tried at ``first_attempt_at`` may be sent again at ``now``.

        Inside the horizon the server deduplicates the retry, so it is always safe. After it, a
        retry might be executed twice, and only the ``"resend"`` policy accepts that.
        """
        if now - first_attempt_at < self.retry_horizon_seconds:
            return True
        return self.after_horizon == "resend"


#: The bot options (``bots.options``) an IM REST bot reads, and their types.
OPTION_TYPES: dict[str, type] = {
    "base_url": str,
    "app_id": str,
    "from_user_id": int,
    "endpoint": str,
    "after_horizon": str,
    "retry_horizon_seconds": float,
    "batch_size": int,
    "timeout": float,
    "page_limit": int,
    "poll_delays": tuple,
    "sample_above": int,
    "sample_margin": float,
    "poll_share": float,
}
REQUIRED_OPTIONS = ("base_url", "app_id", "from_user_id")
#: A placeholder for deciding without the secret (batch size, horizon, polling).
NO_TOKEN = "-"


def settings_from_options(
    options: Mapping[str, Any], access_token: str = NO_TOKEN, *, timeout: float | None = None
) -> ImRestSettings:
    """An IM REST bot's settings from its stored options; ``ValueError`` names the option.

    The token is never among the options: it is read from the bot's credentials reference.
    """
    missing = [name for name in REQUIRED_OPTIONS if options.get(name) in (None, "")]
    if missing:
        raise ValueError(f"{missing[0]}: required for an IM REST bot")
    unknown = sorted(set(options) - set(OPTION_TYPES) - {"api_url", "blaze_url"})
    if unknown:
        raise ValueError(f"{unknown[0]}: not an IM REST bot option")
    values: dict[str, Any] = {}
    for name, kind in OPTION_TYPES.items():
        if name not in options or options[name] is None:
            continue
        values[name] = _typed_option(name, options[name], kind)
    if "timeout" not in values and timeout is not None:
        values["timeout"] = timeout
    if urlsplit(values["base_url"]).username or urlsplit(values["base_url"]).password:
        raise ValueError("base_url: must not carry credentials; the token has its own reference")
    return ImRestSettings(access_token=access_token, **values)


def _typed_option(name: str, value: Any, kind: type) -> Any:
    try:
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(float(item) for item in items)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip())
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if not isinstance(value, str):
            raise ValueError
        return value.strip()
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {kind.__name__}, got {str(value)[:40]!r}") from None
