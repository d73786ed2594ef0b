"""Which exceptions are the operator's to fix, and how to say them in one line."""

from __future__ import annotations

from models import IllegalTransition
from worker.api import DatabaseUnavailable
from worker.bots import BotError
from worker.broadcast.service import InvalidAnnouncement
from worker.broadcast.state import AnnouncementNotFound
from worker.config import ConfigError
from worker.embedded import EngineError
from worker.history import ArchiveError
from worker.messaging.credentials import CredentialsError
from worker.messaging.errors import Unauthorized
from worker.messaging.mixin.keystore import KeystoreError
from worker.messaging.provider import InvalidContent
from worker.progress import AmbiguousId
from worker.recipient_files import ImportAborted
from worker.recipients import InvalidUserId, UnknownRecipients
from worker.secret_files import CredentialFile

OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    BotError,
    EngineError,
    KeystoreError,
    CredentialsError,
    InvalidContent,  # PayloadError (Mixin) and the IM REST content errors
    InvalidAnnouncement,
    AnnouncementNotFound,
    IllegalTransition,
    Unauthorized,
    FileNotFoundError,
    DatabaseUnavailable,
    AmbiguousId,
    ImportAborted,
    InvalidUserId,
    UnknownRecipients,
    CredentialFile,
    ArchiveError,
)


def describe(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return f"file not found: {error.filename}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
