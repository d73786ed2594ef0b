"""SQLAlchemy 2 typed models, one module per table family; importing this package registers them all."""

from models.announcements import (
    Announcement,
    AnnouncementEvent,
    AnnouncementStatus,
    AudienceKind,
    AudienceMember,
    check_transition,
)
from models.base import Base, IllegalTransition
from models.bots import DEFAULT_BOT_NAME, Bot, BotProvider
from models.deliveries import (
    OPEN_BATCH_STATES,
    Batch,
    BatchState,
    Delivery,
    DeliveryReason,
    DeliveryState,
)
from models.polls import StatusPoll
from models.recipients import Recipient, RecipientStatus

__all__ = [
    "OPEN_BATCH_STATES",
    "Announcement",
    "AnnouncementEvent",
    "AnnouncementStatus",
    "AudienceKind",
    "AudienceMember",
    "Base",
    "Batch",
    "BatchState",
    "DEFAULT_BOT_NAME",
    "Bot",
    "BotProvider",
    "Delivery",
    "DeliveryReason",
    "DeliveryState",
    "IllegalTransition",
    "Recipient",
    "RecipientStatus",
    "StatusPoll",
    "check_transition",
]
