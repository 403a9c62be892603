"""What staff record about a participant beyond enrolment, and the privacy workflow.

Profiles hold the care-team facts (tier, interpreter need, community area, the
beliefs flag); tier changes keep their history; a carer is a second contact for
module reminders only; erasure requests need a lead to ask and an admin to confirm.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from bot.store.models.base import Base, BigId
from bot.store.models.escalations import AuditEntry

TIERS = (1, 2, 3)
ERASURE_STATUSES = ("requested", "confirmed", "rejected", "cancelled")


class ParticipantProfile(Base):
    """One row per participant, created on first use; absent means nothing recorded."""

    __tablename__ = "participant_profiles"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    tier: Mapped[int | None]
    tier_changed_at: Mapped[datetime | None]
    # Only the district (outward code, e.g. BD3): enough for equity reporting, not an address.
    postcode_district: Mapped[str | None] = mapped_column(String(8), index=True)
    interpreter_needed: Mapped[bool] = mapped_column(default=False)
    interpreter_language: Mapped[str | None] = mapped_column(String(64))
    interpreter_gender: Mapped[str | None] = mapped_column(String(16))
    # Faith or beliefs that may affect which support suits them: care team only.
    beliefs_flag: Mapped[bool] = mapped_column(default=False)
    beliefs_note: Mapped[str | None] = mapped_column(Text)
    beliefs_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    beliefs_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TierChange(Base):
    """Every tier decision, oldest first; a move to Tier 3 carries the coach's note."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_participant_at", "participant_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    from_tier: Mapped[int | None]
    to_tier: Mapped[int]
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(index=True)


class CarerContact(Base):
    """A family member or carer the participant asked us to remind about module sessions.

    Module reminders only: never check-ins, answers or crisis messages. Their own
    consent and opt-out, independent of the participant's.
    """

    __tablename__ = "carer_contacts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    relationship: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    participant_asked: Mapped[bool] = mapped_column(default=False)
    consent: Mapped[bool] = mapped_column(default=False)
    consent_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ErasureRequest(Base):
    """A lead asks, an admin confirms (a different person); the reason holds no personal data."""

    __tablename__ = "erasure_requests"
    __table_args__ = (Index("ix_erasure_requests_status", "status", "requested_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]


class ServiceSecret(Base):
    """Random keys the service makes for itself when no setting supplies one.

    Used for the pseudonymisation key so that export ids stay stable across
    processes and restarts without anyone having to configure anything.
    """

    __tablename__ = "service_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: object, instances: object) -> None:
    """The audit log is append-only: no ORM path in the application may edit or delete it."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(
        m.class_ is AuditEntry for m in state.all_mappers
    ):
        raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")


# The same rule in the database, so that no other path (a script, a console, a bug that
# bypasses the ORM) can change the log either. The migration applies these statements
# (tools/regen_migration.py copies them in); ``metadata.create_all`` gets them through the
# DDL events below. PostgreSQL's TRUNCATE fires no row trigger: revoke it from the
# application's role (README, "Privacy").
AUDIT_APPEND_ONLY_MESSAGE = "audit_log is append-only: entries cannot be changed or deleted"
AUDIT_GUARD_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": tuple(
        f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{AUDIT_APPEND_ONLY_MESSAGE}'); END"
        for verb in ("UPDATE", "DELETE")
    ),
    "postgresql": (
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{AUDIT_APPEND_ONLY_MESSAGE}' "
        "USING ERRCODE = 'insufficient_privilege'; END $$",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    ),
}
AUDIT_UNGUARD_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        "DROP TRIGGER IF EXISTS audit_log_no_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
        "DROP FUNCTION IF EXISTS audit_log_append_only()",
    ),
}
for _dialect, _statements in AUDIT_GUARD_SQL.items():
    for _statement in _statements:
        event.listen(
            AuditEntry.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )
