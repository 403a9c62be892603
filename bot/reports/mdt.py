"""The MDT report: for a period and a coach (or all), who needs discussing and why.

Each participant with something to discuss appears once: escalations opened in
the period or still open, answers that got worse (pain, sleep, activity, goal
attainment), missed check-ins, module bookings and attendance, tier changes and
notes. Trends are shown as the values themselves ("5 → 7 → 9"), not as a score:
the team decides what they mean.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.audit import audit
from bot.host.services import Services
from bot.reports.periods import Period, parse_period
from bot.reports.pseudonyms import Ident, identifier, pseudonym_key
from bot.staff.profiles import decider
from bot.store.models import Answer, Escalation, EscalationNote, Participant, User
from bot.store.models.scheduling import ModuleBooking, ModuleSession, ScheduledItem
from bot.store.models.staff import ParticipantProfile, TierChange


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    higher_is_worse: bool
    change: float  # how far the last value must move past the first to count as worse


MEASURES = (
    Measure("activity_pain", "Pain during activity (0-10)", True, 2),
    Measure("sleep_quality", "Sleep quality (0-10)", False, 2),
    Measure("hours_slept", "Hours slept", False, 1.5),
    Measure("activity_level", "Activity level (0-3)", False, 1),
    Measure("goal_attainment", "Goal attainment (-2 to +2)", False, 1),
)
MEASURE_BY_KEY = {m.key: m for m in MEASURES}
PRIORITY_ORDER = {"urgent": 0, "high": 1, "routine": 2}
DEFAULT_SPAN = timedelta(days=14)
NOTE_WITHHELD = "[note withheld: pseudonymised report]"  # the MDT meets fortnightly


@dataclass
class Trend:
    key: str
    label: str
    values: list[float]
    worse: bool

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "values": self.values, "worse": self.worse}


@dataclass
class Case:
    participant_id: int
    label: str  # name and id, or a pseudonym
    language: str
    channel: str
    tier: int | None = None
    interpreter: str | None = None
    beliefs_flag: bool = False
    escalations: list[dict[str, Any]] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    checkins_due: int = 0
    checkins_missed: int = 0
    bookings: list[dict[str, Any]] = field(default_factory=list)
    tier_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def worsened(self) -> list[Trend]:
        return [t for t in self.trends if t.worse]

    @property
    def notable(self) -> bool:
        return bool(
            self.escalations
            or self.worsened
            or self.checkins_missed
            or any(b["status"] == "no_show" for b in self.bookings)
            or self.tier_changes
        )

    def urgency(self) -> tuple[int, int]:
        open_ranks = [
            PRIORITY_ORDER.get(e["priority"], 3)
            for e in self.escalations
            if e["status"] != "resolved"
        ]
        return (min(open_ranks, default=9), -len(self.worsened) - self.checkins_missed)

    def as_json(self) -> dict[str, Any]:
        return {
            "participant": self.label,
            "language": self.language,
            "channel": self.channel,
            "tier": self.tier,
            "interpreter": self.interpreter,
            "beliefs_flag": self.beliefs_flag,
            "escalations": self.escalations,
            "trends": [t.as_json() for t in self.trends],
            "checkins_due": self.checkins_due,
            "checkins_missed": self.checkins_missed,
            "bookings": self.bookings,
            "tier_changes": self.tier_changes,
        }


@dataclass
class MdtReport:
    period: Period
    coach: str  # a name, or "all coaches"
    pseudonymised: bool
    generated_at: datetime
    cases: list[Case]

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "coach": self.coach,
            "pseudonymised": self.pseudonymised,
            "generated_at": self.generated_at.isoformat(),
            "participants": [c.as_json() for c in self.cases],
        }


def trend_of(measure: Measure, values: list[float]) -> Trend:
    worse = False
    if len(values) >= 2:
        moved = values[-1] - values[0]
        worse = moved >= measure.change if measure.higher_is_worse else -moved >= measure.change
    return Trend(measure.key, measure.label, values, worse)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def mdt_report(
    db: AsyncSession,
    period: Period,
    *,
    coach: User | None,
    ident: Ident,
    pseudonymised: bool,
    now: datetime,
) -> MdtReport:
    """Build the report; ``ident`` gives each participant's pseudonym when asked for."""
    scope = [Participant.status != "erased", Participant.demo.is_(False)]
    if coach is not None:
        scope.append(Participant.coach_id == coach.id)
    rows = await db.execute(
        select(Participant, ParticipantProfile)
        .outerjoin(ParticipantProfile, ParticipantProfile.participant_id == Participant.id)
        .where(*scope)
        .order_by(Participant.id)
    )
    cases: dict[int, Case] = {}
    for participant, profile in rows:
        label = ident(participant.id)
        if not pseudonymised:
            label = f"{participant.name or 'No name'} (#{participant.id})"
        interpreter = None
        if profile is not None and profile.interpreter_needed:
            interpreter = profile.interpreter_language or "needed (language not recorded)"
        cases[participant.id] = Case(
            participant_id=participant.id,
            label=label,
            language=participant.language,
            channel=participant.channel,
            tier=profile.tier if profile else None,
            interpreter=interpreter,
            beliefs_flag=bool(profile and profile.beliefs_flag),
        )
    ids = list(cases)
    for chunk in [ids[i : i + 500] for i in range(0, len(ids), 500)]:
        await _fill(db, period, cases, chunk, withhold_notes=pseudonymised)
    notable = sorted((c for c in cases.values() if c.notable), key=Case.urgency)
    return MdtReport(
        period=period,
        coach=(coach.name or coach.email) if coach else "all coaches",
        pseudonymised=pseudonymised,
        generated_at=now,
        cases=notable,
    )


async def _fill(
    db: AsyncSession,
    period: Period,
    cases: dict[int, Case],
    ids: list[int],
    *,
    withhold_notes: bool,
) -> None:
    """Fill in each case; notes are free text (names appear in them), so a pseudonymised
    report withholds them."""
    in_period = (period.start, period.end)
    items = await db.scalars(
        select(Escalation)
        .where(
            Escalation.participant_id.in_(ids),
            Escalation.created_at < period.end,
            or_(Escalation.created_at >= period.start, Escalation.status != "resolved"),
        )
        .order_by(Escalation.created_at)
    )
    escalation_rows = list(items)
    notes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if escalation_rows:
        for note in await db.scalars(
            select(EscalationNote)
            .where(
                EscalationNote.escalation_id.in_([e.id for e in escalation_rows]),
                EscalationNote.at >= period.start,
                EscalationNote.at < period.end,
            )
            .order_by(EscalationNote.at)
        ):
            notes[note.escalation_id].append(
                {"at": note.at.isoformat(), "text": NOTE_WITHHELD if withhold_notes else note.text}
            )
    for item in escalation_rows:
        assert item.participant_id is not None
        cases[item.participant_id].escalations.append(
            {
                "priority": item.priority,
                "reason": item.reason,
                "status": item.status,
                "opened_at": item.created_at.isoformat(),
                "acknowledged_at": _iso(item.claimed_at),
                "resolved_at": _iso(item.resolved_at),
                "outcome": item.outcome,
                "notes": notes.get(item.id, []),
            }
        )
    values: dict[tuple[int, str], list[float]] = defaultdict(list)
    for pid, key, value in await db.execute(
        select(Answer.participant_id, Answer.key, Answer.value)
        .where(
            Answer.participant_id.in_(ids),
            Answer.key.in_(list(MEASURE_BY_KEY)),
            Answer.at >= in_period[0],
            Answer.at < in_period[1],
        )
        .order_by(Answer.at, Answer.id)
    ):
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[(pid, key)].append(value)
    for (pid, key), series in values.items():
        cases[pid].trends.append(trend_of(MEASURE_BY_KEY[key], series))
    for case in cases.values():
        case.trends.sort(key=lambda t: [m.key for m in MEASURES].index(t.key))
    for pid, result in await db.execute(
        select(ScheduledItem.participant_id, ScheduledItem.result).where(
            ScheduledItem.participant_id.in_(ids),
            ScheduledItem.kind == "checkin",
            ScheduledItem.due_at >= in_period[0],
            ScheduledItem.due_at < in_period[1],
            ScheduledItem.result.in_(("answered", "missed")),
        )
    ):
        cases[pid].checkins_due += 1
        cases[pid].checkins_missed += result == "missed"
    for booking, session in await db.execute(
        select(ModuleBooking, ModuleSession)
        .join(ModuleSession, ModuleSession.id == ModuleBooking.session_id)
        .where(
            ModuleBooking.participant_id.in_(ids),
            ModuleSession.starts_at >= in_period[0],
            ModuleSession.starts_at < in_period[1],
        )
        .order_by(ModuleSession.starts_at)
    ):
        cases[booking.participant_id].bookings.append(
            {
                "module": session.module,
                "starts_at": session.starts_at.isoformat(),
                "status": booking.status,
            }
        )
    for change in await db.scalars(
        select(TierChange)
        .where(
            TierChange.participant_id.in_(ids),
            TierChange.at >= in_period[0],
            TierChange.at < in_period[1],
        )
        .order_by(TierChange.at)
    ):
        cases[change.participant_id].tier_changes.append(
            {
                "from_tier": change.from_tier,
                "to_tier": change.to_tier,
                "note": NOTE_WITHHELD if withhold_notes and change.note else change.note,
                "decided_by": change.decided_by,
                "at": change.at.isoformat(),
            }
        )


CSV_HEADER = (
    "participant",
    "language",
    "channel",
    "tier",
    "interpreter",
    "open_escalations",
    "escalations_in_period",
    "highest_priority",
    "worse",
    "checkins_missed",
    "checkins_due",
    "module_bookings",
    "no_shows",
    "tier_changes",
)


def csv_rows(report: MdtReport) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for case in report.cases:
        open_items = [e for e in case.escalations if e["status"] != "resolved"]
        priorities = sorted(
            (e["priority"] for e in case.escalations), key=lambda p: PRIORITY_ORDER.get(p, 3)
        )
        rows.append(
            [
                case.label,
                case.language,
                case.channel,
                case.tier,
                case.interpreter or "",
                len(open_items),
                len(case.escalations),
                priorities[0] if priorities else "",
                "; ".join(
                    f"{t.key} {' > '.join(_num(v) for v in t.values)}" for t in case.worsened
                ),
                case.checkins_missed,
                case.checkins_due,
                len(case.bookings),
                sum(b["status"] == "no_show" for b in case.bookings),
                "; ".join(f"{c['from_tier']} > {c['to_tier']}" for c in case.tier_changes),
            ]
        )
    return rows


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


async def run_mdt(
    services: Services,
    *,
    start: str | None,
    end: str | None,
    coach: object,
    pseudonymise: bool,
    actor: str,
    export: str = "json",
) -> MdtReport:
    """Validate the choices, build the report and audit that it was produced (and in which
    form it left: json, html, csv or pdf)."""
    now = services.clock.now()
    period = parse_period(start or (now - DEFAULT_SPAN).date().isoformat(), end, now)
    async with services.sessions() as db, db.begin():
        chosen = None
        if coach not in (None, ""):
            chosen = await decider(db, _coach_ref(coach), ("coach", "lead"), "coach")
        key = await pseudonym_key(db, services.settings, now) if pseudonymise else None
        report = await mdt_report(
            db, period, coach=chosen, ident=identifier(key), pseudonymised=pseudonymise, now=now
        )
        audit(
            db,
            now,
            actor,
            "report.mdt",
            "reports",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            coach=chosen.id if chosen else None,
            pseudonymised=pseudonymise,
            participants=len(report.cases),
            export=export,
        )
    return report


def _coach_ref(raw: object) -> object:
    """A coach id from a query string arrives as text."""
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return raw
