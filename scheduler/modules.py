"""Module sessions and bookings, and the reminders each booking gets.

A booking's reminders are rows of due work keyed by booking, session revision and
reminder; moving a session bumps its revision (old reminders are dropped, new ones
written) and cancelling drops them. A reminder for a session that has started is
dropped rather than sent.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_date
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound, ValidationError
from bot.host.audit import audit
from bot.host.escalations import open_escalation
from bot.i18n.languages import normalise_language
from bot.store.models import Participant
from bot.store.models.scheduling import CheckinSchedule, ModuleBooking, ModuleSession, ScheduledItem
from scheduler.schedules import Schedule, default_schedule, schedule_from_json
from scheduler.windows import next_allowed, wall_instant

MODULES = {
    "tier1_education": "Understanding Pain (Tier 1 education)",
    "more_on_managing_pain": "More on Managing Pain",
    "keeping_active": "Keeping Active & Safe Movement",
    "sleep_therapy": "Sleep Therapy",
    "emotional_wellbeing": "Emotional Wellbeing Support",
    "helpful_habits": "Developing Helpful Habits, Setting Goals & Making Plans",
    "diet_therapy": "Diet Therapy",
    "creative_therapies": "Creative Therapies",
    "your_stories": "Your Stories",
    "acceptance": "Acceptance & Taking Control of Your Pain",
    "beliefs_faith_pain": "Beliefs, Spirituality, Faith and Pain",
}
REMINDER_FLOW = "module_reminder"
DEFAULT_REMINDERS = ["day_before", "2h"]
REMINDER = re.compile(r"^(day_before|(\d{1,3})h|(\d{1,4})m)$")
SESSION_FIELDS = {"module", "starts_at", "venue", "language", "capacity", "reminders"}
CHANGE_FIELDS = {"starts_at", "venue", "capacity"}
MAX_CAPACITY = 500
NO_SHOW_REASON = "Did not attend a booked session ({module}): check in with this person"
BABEL_LOCALES = {"pa_Arab": "pa_Arab", "pa_Guru": "pa_Guru"}


def parse_starts_at(raw: object, now: datetime) -> datetime:
    if not isinstance(raw, str) or len(raw) > 40:
        raise ValidationError(
            "starts_at must be an ISO 8601 time with an offset, e.g. 2026-03-10T10:00:00+00:00",
            "invalid_starts_at",
        )
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"starts_at {raw!r} is not an ISO 8601 date and time", "invalid_starts_at"
        ) from None
    if value.tzinfo is None:
        raise ValidationError(
            "starts_at needs an offset such as +01:00 or Z, so the time is unambiguous",
            "invalid_starts_at",
        )
    if value <= now:
        raise ValidationError("starts_at is in the past", "session_in_past")
    return value


def _venue(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 200:
        raise ValidationError("venue must be text of 1 to 200 characters", "invalid_venue")
    return raw.strip()


def _capacity(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_CAPACITY:
        raise ValidationError(
            f"capacity must be a whole number from 1 to {MAX_CAPACITY}", "invalid_capacity"
        )
    return raw


def _reminders(raw: object) -> list[str]:
    if raw is None:
        return list(DEFAULT_REMINDERS)
    if not isinstance(raw, list) or len(raw) > 4 or len(set(map(str, raw))) != len(raw):
        raise ValidationError(
            'reminders must be a list of up to 4 distinct items like "day_before", "2h", "30m"',
            "invalid_reminders",
        )
    for value in raw:
        if not isinstance(value, str) or not REMINDER.match(value):
            raise ValidationError(
                f'reminder {str(value)[:20]!r} must be "day_before", hours like "2h" or minutes like "30m"',
                "invalid_reminders",
            )
    return list(raw)


def session_json(session: ModuleSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "module": session.module,
        "module_name": MODULES.get(session.module, session.module),
        "starts_at": session.starts_at.isoformat(),
        "venue": session.venue,
        "language": session.language,
        "capacity": session.capacity,
        "booked": session.booked,
        "reminders": session.reminders,
        "status": session.status,
    }


def booking_json(booking: ModuleBooking, reminders: list[ScheduledItem]) -> dict[str, Any]:
    return {
        "id": booking.id,
        "session_id": booking.session_id,
        "participant_id": booking.participant_id,
        "status": booking.status,
        "reminders": [
            {"due_at": r.due_at.isoformat(), "status": r.status}
            for r in sorted(reminders, key=lambda r: r.due_at)
        ],
    }


async def create_session(
    db: AsyncSession, data: dict[str, Any], now: datetime, *, actor: str = "api"
) -> ModuleSession:
    unknown = set(data) - SESSION_FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", "unknown_field")
    module = data.get("module")
    if not isinstance(module, str) or module not in MODULES:  # {} is unhashable
        raise ValidationError(f"module must be one of {', '.join(MODULES)}", "unknown_module")
    if not isinstance(data.get("language"), str):
        raise ValidationError("language is required, e.g. en or ur", "invalid_language")
    session = ModuleSession(
        module=module,
        starts_at=parse_starts_at(data.get("starts_at"), now),
        venue=_venue(data.get("venue")),
        language=normalise_language(data["language"]),
        capacity=_capacity(data.get("capacity")),
        reminders=_reminders(data.get("reminders")),
        booked=0,
        status="scheduled",
        revision=1,
        created_at=now,
        updated_at=now,
    )
    db.add(session)
    await db.flush()
    audit(db, now, actor, "module_session.create", f"module_session:{session.id}", module=module)
    return session


async def get_session(db: AsyncSession, session_id: int, *, lock: bool = False) -> ModuleSession:
    query = select(ModuleSession).where(ModuleSession.id == session_id)
    if lock and db.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    session = await db.scalar(query)
    if session is None:
        raise NotFound("no such session", "unknown_session")
    return session


async def _schedule_for(db: AsyncSession, participant: Participant) -> Schedule:
    spec = await db.scalar(
        select(CheckinSchedule.spec).where(CheckinSchedule.participant_id == participant.id)
    )
    if spec is None:
        return default_schedule(participant.timezone)
    return schedule_from_json({**spec, "timezone": participant.timezone})


def reminder_time(spec: str, starts_at: datetime, schedule: Schedule) -> datetime:
    if spec == "day_before":
        local = starts_at.astimezone(schedule.zone)
        minute = local.hour * 60 + local.minute
        return wall_instant(local.date() - timedelta(days=1), minute, schedule.zone)
    if spec.endswith("h"):
        return starts_at - timedelta(hours=int(spec[:-1]))
    return starts_at - timedelta(minutes=int(spec[:-1]))


async def write_reminders(
    db: AsyncSession,
    session: ModuleSession,
    booking: ModuleBooking,
    participant: Participant,
    now: datetime,
) -> list[ScheduledItem]:
    """Reminder rows for one booking: at each reminder time, or the next allowed minute
    after quiet times; none when that would be at or after the start, or already past."""
    schedule = await _schedule_for(db, participant)
    written: list[ScheduledItem] = []
    for spec in session.reminders:
        due = next_allowed(reminder_time(spec, session.starts_at, schedule), schedule.zone,
                           schedule.quiet, schedule.blocker())  # fmt: skip
        if due is None or due >= session.starts_at or due <= now:
            continue
        item = ScheduledItem(
            key=f"reminder:{booking.id}:{session.revision}:{spec}",
            participant_id=participant.id,
            kind="reminder",
            flow_id=REMINDER_FLOW,
            params={"revision": session.revision, "reminder": spec},
            due_at=due,
            not_after=session.starts_at,
            status="pending",
            booking_id=booking.id,
            attempts=0,
            created_at=now,
        )
        db.add(item)
        written.append(item)
    await db.flush()
    return written


async def drop_reminders(
    db: AsyncSession, booking_ids: list[int], outcome: str, now: datetime
) -> None:
    if not booking_ids:
        return
    await db.execute(
        update(ScheduledItem)
        .where(
            ScheduledItem.booking_id.in_(booking_ids),
            ScheduledItem.status.in_(("pending", "claimed")),
        )
        .values(status="dropped", outcome=outcome, done_at=now)
    )


async def _bookings(
    db: AsyncSession, session_id: int, statuses: tuple[str, ...]
) -> list[ModuleBooking]:
    rows = await db.scalars(
        select(ModuleBooking)
        .where(ModuleBooking.session_id == session_id, ModuleBooking.status.in_(statuses))
        .order_by(ModuleBooking.id)
    )
    return list(rows)


async def change_session(
    db: AsyncSession,
    session: ModuleSession,
    data: dict[str, Any],
    now: datetime,
    *,
    actor: str = "api",
) -> ModuleSession:
    """Move a session or change its venue or capacity; a move re-writes every reminder."""
    unknown = set(data) - CHANGE_FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", "unknown_field")
    if session.status != "scheduled":
        raise Conflict("the session is cancelled", "session_cancelled")
    if session.starts_at <= now:
        raise Conflict("the session has already started", "session_started")
    starts_at = parse_starts_at(data["starts_at"], now) if "starts_at" in data else None
    venue = _venue(data["venue"]) if "venue" in data else None
    capacity = _capacity(data["capacity"]) if "capacity" in data else session.capacity
    if capacity is not None and capacity < session.booked:
        raise Conflict(
            f"{session.booked} people are booked; capacity cannot be less", "capacity_below_booked"
        )
    session.capacity = capacity
    if venue is not None:
        session.venue = venue
    if starts_at is not None and starts_at != session.starts_at:
        session.starts_at = starts_at
        session.revision += 1
        bookings = await _bookings(db, session.id, ("booked",))
        await drop_reminders(db, [b.id for b in bookings], "moved", now)
        for booking in bookings:
            participant = await db.get(Participant, booking.participant_id)
            if participant is not None:
                await write_reminders(db, session, booking, participant, now)
    session.updated_at = now
    audit(db, now, actor, "module_session.change", f"module_session:{session.id}",
          fields=sorted(data))  # fmt: skip
    return session


async def cancel_session(
    db: AsyncSession, session: ModuleSession, now: datetime, *, actor: str = "api"
) -> ModuleSession:
    if session.status == "cancelled":
        return session
    bookings = await _bookings(db, session.id, ("booked",))
    await drop_reminders(db, [b.id for b in bookings], "session_cancelled", now)
    for booking in bookings:
        booking.status, booking.updated_at = "cancelled", now
    session.status, session.updated_at = "cancelled", now
    audit(db, now, actor, "module_session.cancel", f"module_session:{session.id}")
    return session


async def book(
    db: AsyncSession,
    session: ModuleSession,
    participant_id: object,
    now: datetime,
    *,
    actor: str = "api",
) -> tuple[ModuleBooking, list[ScheduledItem]]:
    """Book a participant: capacity is taken atomically, so a full session is never overbooked."""
    if isinstance(participant_id, bool) or not isinstance(participant_id, int):
        raise ValidationError("participant_id must be a participant's id", "invalid_participant")
    participant = await db.get(Participant, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant", "unknown_participant")
    if participant.status == "opted_out":
        raise Conflict("the participant has opted out", "opted_out")
    if session.status != "scheduled":
        raise Conflict("the session is cancelled", "session_cancelled")
    if session.starts_at <= now:
        raise Conflict("the session has already started", "session_started")
    existing = await db.scalar(
        select(ModuleBooking).where(
            ModuleBooking.session_id == session.id, ModuleBooking.participant_id == participant_id
        )
    )
    if existing is not None and existing.status == "booked":
        raise Conflict("the participant is already booked on this session", "already_booked")
    taken = await db.execute(
        update(ModuleSession)
        .where(
            ModuleSession.id == session.id,
            (ModuleSession.capacity.is_(None)) | (ModuleSession.booked < ModuleSession.capacity),
        )
        .values(booked=ModuleSession.booked + 1)
        .returning(ModuleSession.booked)
    )
    booked = taken.scalar()
    if booked is None:
        raise Conflict(f"the session is full ({session.capacity} places)", "session_full")
    session.booked = booked
    if existing is not None:
        existing.status, existing.updated_at = "booked", now
        booking = existing
    else:
        booking = ModuleBooking(
            session_id=session.id,
            participant_id=participant_id,
            status="booked",
            created_at=now,
            updated_at=now,
        )
        db.add(booking)
        try:
            await db.flush()
        except IntegrityError:
            raise Conflict(
                "the participant is already booked on this session", "already_booked"
            ) from None
    reminders = await write_reminders(db, session, booking, participant, now)
    audit(db, now, actor, "module_session.book", f"participant:{participant_id}",
          session=session.id)  # fmt: skip
    return booking, reminders


async def _booking_of(
    db: AsyncSession, session: ModuleSession, participant_id: object
) -> ModuleBooking:
    if isinstance(participant_id, bool) or not isinstance(participant_id, int):
        raise ValidationError("participant_id must be a participant's id", "invalid_participant")
    booking = await db.scalar(
        select(ModuleBooking).where(
            ModuleBooking.session_id == session.id, ModuleBooking.participant_id == participant_id
        )
    )
    if booking is None or booking.status == "cancelled":
        raise NotFound("the participant is not booked on this session", "not_booked")
    return booking


async def cancel_booking(
    db: AsyncSession,
    session: ModuleSession,
    participant_id: object,
    now: datetime,
    *,
    actor: str = "api",
) -> ModuleBooking:
    booking = await _booking_of(db, session, participant_id)
    if booking.status != "booked":
        raise Conflict("attendance has already been marked", "attendance_marked")
    booking.status, booking.updated_at = "cancelled", now
    await db.execute(
        update(ModuleSession)
        .where(ModuleSession.id == session.id)
        .values(booked=ModuleSession.booked - 1)
    )
    await drop_reminders(db, [booking.id], "booking_cancelled", now)
    audit(db, now, actor, "module_session.unbook", f"participant:{booking.participant_id}",
          session=session.id)  # fmt: skip
    return booking


async def mark_attendance(
    db: AsyncSession,
    session: ModuleSession,
    data: dict[str, Any],
    now: datetime,
    *,
    actor: str = "api",
) -> ModuleBooking:
    """After the start: attended, or a no-show, which asks the coach to get in touch."""
    unknown = set(data) - {"participant_id", "attended"}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", "unknown_field")
    attended = data.get("attended")
    if not isinstance(attended, bool):
        raise ValidationError("attended must be true or false", "invalid_attended")
    booking = await _booking_of(db, session, data.get("participant_id"))
    if session.status != "scheduled":
        raise Conflict("the session is cancelled", "session_cancelled")
    if session.starts_at > now:
        raise Conflict(
            "attendance can be marked once the session has started", "session_not_started"
        )
    booking.status, booking.updated_at = ("attended" if attended else "no_show"), now
    if not attended:
        await open_escalation(
            db, participant_id=booking.participant_id, priority="routine",
            reason=NO_SHOW_REASON.format(module=MODULES.get(session.module, session.module)),
            source="schedule:no_show", now=now,
        )  # fmt: skip
    audit(db, now, actor, "module_session.attendance", f"participant:{booking.participant_id}",
          session=session.id, attended=attended)  # fmt: skip
    return booking


def reminder_params(session: ModuleSession, participant: Participant) -> dict[str, Any]:
    """What ``module_reminder`` says, in the participant's language and local time."""
    local = session.starts_at.astimezone(default_schedule(participant.timezone).zone)
    locale = BABEL_LOCALES.get(participant.language, participant.language.split("_")[0])
    try:
        day = format_date(local.date(), "EEEE d MMMM", locale=locale)
    except (ValueError, LookupError):
        day = format_date(local.date(), "EEEE d MMMM", locale="en")
    return {
        "module_name": MODULES.get(session.module, session.module),
        "session_date": day,
        "session_time": f"{local.hour:02d}:{local.minute:02d}",
        "venue": session.venue,
    }
