"""Monitoring exports for the service evaluation, as CSV streamed from a database cursor.

Rows are read in partitions and written as they come, so a year of data for
100,000 participants never sits in memory. No export carries a phone number or
a name, and free-text answers are withheld (people write names in them); with
pseudonymisation (the default) participants appear as keyed-hash ids.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.periods import Period
from bot.reports.pseudonyms import Ident
from bot.store.models import Answer, Escalation, Participant
from bot.store.models.scheduling import ModuleBooking, ModuleSession, ScheduledItem
from bot.store.models.staff import ParticipantProfile

PARTITION = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
WITHHELD = "[free text withheld]"


def safe_cell(value: Any) -> str:
    """Text as a spreadsheet will show it, never as a formula (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if text.startswith(FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def is_free_text(key: str) -> bool:
    """Answers typed in the participant's own words (flows name them ``*_text``)."""
    return key.endswith("_text")


@dataclass(frozen=True)
class Export:
    """One kind of export: its header, its query, and how a row becomes cells."""

    header: Sequence[str]
    query: Callable[[Period], Select[Any]]
    cells: Callable[[Any, Ident, bool], list[Any]]


def _answers(period: Period) -> Select[Any]:
    return (
        select(Answer.participant_id, Answer.flow_id, Answer.key, Answer.value, Answer.at)
        .where(Answer.at >= period.start, Answer.at < period.end)
        .order_by(Answer.at, Answer.id)
    )


def _answer_cells(row: Any, ident: Ident, pseudonymised: bool) -> list[Any]:
    value = WITHHELD if is_free_text(row.key) else row.value
    return [ident(row.participant_id), row.flow_id, row.key, value, row.at]


def _escalations(period: Period) -> Select[Any]:
    return (
        select(
            Escalation.id,
            Escalation.participant_id,
            Escalation.priority,
            Escalation.reason,
            Escalation.source,
            Escalation.status,
            Escalation.occurrences,
            Escalation.created_at,
            Escalation.claimed_at,
            Escalation.resolved_at,
            Escalation.outcome,
        )
        .where(Escalation.created_at >= period.start, Escalation.created_at < period.end)
        .order_by(Escalation.created_at, Escalation.id)
    )


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


def _escalation_cells(row: Any, ident: Ident, pseudonymised: bool) -> list[Any]:
    return [
        row.id,
        ident(row.participant_id),
        row.priority,
        row.reason,
        row.source,
        row.status,
        row.occurrences,
        row.created_at,
        row.claimed_at,
        row.resolved_at,
        row.outcome,
        _minutes(row.created_at, row.claimed_at or row.resolved_at),
    ]


def _checkins(period: Period) -> Select[Any]:
    return (
        select(
            ScheduledItem.participant_id,
            ScheduledItem.flow_id,
            ScheduledItem.due_at,
            ScheduledItem.status,
            ScheduledItem.result,
            ScheduledItem.outcome,
            Participant.language,
            Participant.channel,
            ParticipantProfile.postcode_district,
        )
        .join(Participant, Participant.id == ScheduledItem.participant_id)
        .outerjoin(ParticipantProfile, ParticipantProfile.participant_id == Participant.id)
        .where(
            ScheduledItem.kind == "checkin",
            ScheduledItem.due_at >= period.start,
            ScheduledItem.due_at < period.end,
        )
        .order_by(ScheduledItem.due_at, ScheduledItem.id)
    )


def _checkin_cells(row: Any, ident: Ident, pseudonymised: bool) -> list[Any]:
    return [
        ident(row.participant_id),
        row.flow_id,
        row.due_at,
        row.status,
        row.result,
        row.outcome,
        row.language,
        row.channel,
        row.postcode_district,
    ]


def _attendance(period: Period) -> Select[Any]:
    return (
        select(
            ModuleBooking.participant_id,
            ModuleSession.id.label("session_id"),
            ModuleSession.module,
            ModuleSession.starts_at,
            ModuleSession.language,
            ModuleSession.status.label("session_status"),
            ModuleBooking.status,
            ModuleBooking.created_at,
            Participant.language.label("participant_language"),
            ParticipantProfile.postcode_district,
        )
        .join(ModuleSession, ModuleSession.id == ModuleBooking.session_id)
        .join(Participant, Participant.id == ModuleBooking.participant_id)
        .outerjoin(ParticipantProfile, ParticipantProfile.participant_id == Participant.id)
        .where(ModuleSession.starts_at >= period.start, ModuleSession.starts_at < period.end)
        .order_by(ModuleSession.starts_at, ModuleBooking.id)
    )


def _attendance_cells(row: Any, ident: Ident, pseudonymised: bool) -> list[Any]:
    return [
        ident(row.participant_id),
        row.session_id,
        row.module,
        row.starts_at,
        row.language,
        row.session_status,
        row.status,
        row.created_at,
        row.participant_language,
        row.postcode_district,
    ]


def _participants(period: Period) -> Select[Any]:
    return (
        select(
            Participant.id,
            Participant.language,
            Participant.channel,
            Participant.status,
            Participant.created_at,
            ParticipantProfile.postcode_district,
            ParticipantProfile.tier,
            ParticipantProfile.interpreter_needed,
        )
        .outerjoin(ParticipantProfile, ParticipantProfile.participant_id == Participant.id)
        .where(
            Participant.created_at < period.end,
            Participant.status != "erased",
            Participant.demo.is_(False),
        )
        .order_by(Participant.id)
    )


def _participant_cells(row: Any, ident: Ident, pseudonymised: bool) -> list[Any]:
    return [
        ident(row.id),
        row.language,
        row.channel,
        row.status,
        row.created_at,
        row.postcode_district,
        row.tier,
        bool(row.interpreter_needed),
    ]


EXPORTS: dict[str, Export] = {
    "answers": Export(("participant", "flow", "key", "value", "at"), _answers, _answer_cells),
    "escalations": Export(
        (
            "escalation",
            "participant",
            "priority",
            "reason",
            "source",
            "status",
            "occurrences",
            "created_at",
            "acknowledged_at",
            "resolved_at",
            "outcome",
            "minutes_to_acknowledge",
        ),
        _escalations,
        _escalation_cells,
    ),
    "checkins": Export(
        (
            "participant",
            "flow",
            "due_at",
            "status",
            "result",
            "outcome",
            "language",
            "channel",
            "postcode_district",
        ),
        _checkins,
        _checkin_cells,
    ),
    "attendance": Export(
        (
            "participant",
            "session",
            "module",
            "starts_at",
            "session_language",
            "session_status",
            "booking_status",
            "booked_at",
            "participant_language",
            "postcode_district",
        ),
        _attendance,
        _attendance_cells,
    ),
    "participants": Export(
        (
            "participant",
            "language",
            "channel",
            "status",
            "enrolled_at",
            "postcode_district",
            "tier",
            "interpreter_needed",
        ),
        _participants,
        _participant_cells,
    ),
}


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[safe_cell(c) for c in row] for row in rows])
    return buffer.getvalue()


async def export_csv(
    db: AsyncSession, kind: str, period: Period, ident: Ident, *, pseudonymised: bool
) -> AsyncIterator[str]:
    """The CSV text of one export, a partition at a time (header first)."""
    export = EXPORTS[kind]
    yield "\ufeff" + _csv_text([list(export.header)])  # the BOM makes Excel read UTF-8
    result = await db.stream(export.query(period).execution_options(yield_per=PARTITION))
    async for partition in result.partitions(PARTITION):
        yield _csv_text([export.cells(row, ident, pseudonymised) for row in partition])
