"""Files that hold credentials are never read as content, whatever the operator's flags say.

An announcement file may name other files (``post_file: ../keystore.json``); a stranger who can
write that file, or an operator's slip, would otherwise broadcast the bot's private key to every
user. Every file read as content or as a list of users goes through :func:`refuse_credentials`
first: a file that holds a Mixin keystore (current or legacy layout) or an IM REST access token
is refused with a message that names the file and never quotes it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Fields that only a credential file has (spec §1.3 and the IM REST settings). ``app_id`` and
# ``client_id`` alone are not enough: an APP_CARD payload has an ``app_id`` too.
SECRET_FIELDS = frozenset(
    {
        "session_private_key",
        "spend_private_key",
        "private_key",
        "pin_token",
        "access_token",
        "client_secret",
        "app_secret",
    }
)
# The same fields as JSON keys anywhere in the text, for files that are not valid JSON as a whole
# (a keystore pasted into a Markdown post, a truncated copy).
_SECRET_KEY_TEXT = re.compile('"(' + "|".join(sorted(SECRET_FIELDS)) + r')"\s*:', re.IGNORECASE)


class CredentialFile(ValueError):
    """A file holds credentials and was refused; the message names the file, never its content."""


def holds_credentials(text: str) -> bool:
    """True if ``text`` parses as a credential file or carries one of its secret fields."""
    if _SECRET_KEY_TEXT.search(text):
        return True
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and any(
        isinstance(k, str) and k.lower() in SECRET_FIELDS for k in value
    )


def refuse_credentials(path: Path, text: str, what: str) -> None:
    """Raise ``CredentialFile`` naming ``what`` (the field) and ``path`` if it holds credentials."""
    if holds_credentials(text):
        raise CredentialFile(
            f"{what}: {path} holds credentials (a bot keystore or token); it is never sent "
            "or shown, whatever the flags"
        )
