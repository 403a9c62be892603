"""What a carer is sent (a copy of a module reminder) and how their STOP is honoured.

The copy says only when and where: no module name (a title such as "Sleep Therapy"
tells a third party about the participant's care), no answers, nothing about mood or
crisis. A STOP from a carer's number opts that carer out; it never touches a
participant, whose own number is matched first and handled by the usual path.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host import replies
from bot.host.audit import audit
from bot.i18n.catalogs import Catalogs
from bot.staff.carers import carer_for_reminders, enqueue_carer_reminder
from bot.store.models import OutboxMessage, Participant
from bot.store.models.scheduling import ModuleSession
from bot.store.models.staff import CarerContact

log = logging.getLogger(__name__)
CARER_CONTEXT = "service"
CARER_REMINDER = replies.CARER_REMINDER  # extracted for translation from bot/host/replies.py
CARER_CHANNELS = ("sms", "whatsapp")
BABEL_LOCALES = {"pa_Arab": "pa_Arab", "pa_Guru": "pa_Guru"}


def carer_reminder_text(
    catalogs: Catalogs, carer: CarerContact, participant: Participant, session: ModuleSession
) -> str:
    """Date and time in the participant's zone (where the session is), words in the carer's
    language (the participant's when the carer's is not recorded); a translation that breaks
    its placeholders falls back to English."""
    language = carer_language(carer, participant)
    local = session.starts_at.astimezone(ZoneInfo(participant.timezone or "Europe/London"))
    locale = BABEL_LOCALES.get(language, language.split("_")[0])
    try:
        day = format_date(local.date(), "EEEE d MMMM", locale=locale)
    except (ValueError, LookupError):
        day = format_date(local.date(), "EEEE d MMMM", locale="en")
    values = {
        "session_date": day,
        "session_time": f"{local.hour:02d}:{local.minute:02d}",
        "venue": session.venue,
    }
    template = catalogs.text(language, CARER_CONTEXT, CARER_REMINDER)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return CARER_REMINDER.format(**values)


def carer_language(carer: CarerContact, participant: Participant) -> str:
    """The carer's own language if recorded, else the participant's, else English."""
    return carer.language or participant.language or "en"


async def remind_carer(
    db: AsyncSession,
    catalogs: Catalogs,
    participant: Participant,
    session: ModuleSession,
    now: datetime,
) -> OutboxMessage | None:
    """Copy a module reminder that just fired to the participant's consenting carer, if any."""
    carer = await carer_for_reminders(db, participant)
    if carer is None or not carer.phone:
        return None
    body = carer_reminder_text(catalogs, carer, participant, session)
    row = enqueue_carer_reminder(db, carer, body, now, now)
    audit(db, now, "system", "carer.reminder", f"participant:{participant.id}",
          session=session.id)  # fmt: skip
    return row


async def carer_stop(db: AsyncSession, channel: str, sender: str, now: datetime) -> int:
    """Opt out every carer contact on this number (a carer may help more than one person);
    returns how many were opted out."""
    if channel not in CARER_CHANNELS or not sender:
        return 0
    carers = list(
        await db.scalars(
            select(CarerContact).where(
                CarerContact.phone == sender, CarerContact.opted_out_at.is_(None)
            )
        )
    )
    for carer in carers:
        carer.opted_out_at, carer.consent, carer.updated_at = now, False, now
        audit(db, now, "carer", "carer.opt_out", f"participant:{carer.participant_id}")
    if carers:
        log.info("carer opted out by text", extra={"contacts": len(carers)})
    return len(carers)
