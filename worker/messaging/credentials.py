"""Where a bot's secret lives: a reference, resolved only when a connection is opened.

``bots.credentials`` holds ``file:<path>`` (a file holding the secret: a Mixin keystore JSON, an IM
REST token) or ``env:<VARIABLE>`` (the variable holds the secret itself); the default bot (NULL)
uses ``BLAZECAST_KEYSTORE``. Errors name the reference, never the content.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_SECRET_BYTES = 64 * 1024


class CredentialsError(ValueError):
    """A reference that cannot be read; the message names the reference only."""


def check_reference(reference: str) -> str:
    """``file:<absolute path>`` or ``env:<NAME>``, normalised; raise CredentialsError otherwise."""
    kind, _, rest = reference.partition(":")
    if kind == "file" and rest:
        return f"file:{Path(rest).expanduser().resolve()}"
    if kind == "env" and _ENV_NAME.match(rest):
        return f"env:{rest}"
    raise CredentialsError(
        f"credentials {reference[:200]!r}: expected file:<path> or env:<VARIABLE_NAME>"
    )


def read_secret(reference: str, environ: dict[str, str] | None = None) -> str:
    """The secret text behind ``reference``."""
    kind, _, rest = check_reference(reference).partition(":")
    if kind == "env":
        value = (os.environ if environ is None else environ).get(rest)
        if not value:
            raise CredentialsError(f"credentials env:{rest}: the variable is not set")
        return value
    path = Path(rest)
    try:
        if path.stat().st_size > MAX_SECRET_BYTES:
            raise CredentialsError(f"credentials file:{path}: larger than {MAX_SECRET_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise CredentialsError(f"credentials file:{path}: cannot read it ({reason})") from None
