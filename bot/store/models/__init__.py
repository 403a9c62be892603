"""Every table, so that ``Base.metadata`` is complete when this package is imported."""

from bot.store.models import authoring, channels, scheduling, staff, staffing  # noqa: F401 - tables register themselves
from bot.store.models.base import Base, UTCDateTime
from bot.store.models.conversations import Answer, FlowSession, InboundMessage, OutboxMessage
from bot.store.models.escalations import PRIORITY_RANK, AuditEntry, Escalation, EscalationNote
from bot.store.models.participants import PARTICIPANT_STATUSES, Consent, Participant, User

__all__ = [
    "PARTICIPANT_STATUSES",
    "PRIORITY_RANK",
    "Answer",
    "AuditEntry",
    "Base",
    "Consent",
    "Escalation",
    "EscalationNote",
    "FlowSession",
    "InboundMessage",
    "OutboxMessage",
    "Participant",
    "UTCDateTime",
    "User",
]
