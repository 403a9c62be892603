"""A small, known service history for report tests, written straight into the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.host.services import Services
from bot.staff.users import add_user
from bot.store.models import Answer, Escalation, Participant, User
from bot.store.models.scheduling import ModuleBooking, ModuleSession, ScheduledItem
from bot.store.models.staff import ParticipantProfile, TierChange

DAY = timedelta(days=1)


@dataclass
class World:
    coach: User
    other_coach: User
    worse: Participant  # pain and sleep getting worse, a missed check-in, an urgent item
    steady: Participant  # steady answers, attended a module
    elsewhere: Participant  # the other coach's participant


def _participant(now: datetime, phone: str, name: str, language: str, coach: User,
                 channel: str = "sms") -> Participant:  # fmt: skip
    return Participant(
        phone=phone, channel=channel, language=language, timezone="Europe/London", name=name,
        coach_id=coach.id, status="active", consent=True, consent_at=now, fields={}, demo=False,
        created_at=now - 30 * DAY, updated_at=now,
    )  # fmt: skip


def _answer(p: Participant, flow: str, key: str, value: Any, at: datetime) -> Answer:
    return Answer(participant_id=p.id, flow_id=flow, key=key, value=value, at=at)


def _item(p: Participant, key: str, due: datetime, result: str | None, status: str = "done",
          flow: str = "sleep_checkin") -> ScheduledItem:  # fmt: skip
    return ScheduledItem(
        key=key, participant_id=p.id, kind="checkin", flow_id=flow, params={}, due_at=due,
        status=status, result=result, created_at=due - DAY,
    )  # fmt: skip


async def seed(services: Services) -> World:
    now = services.clock.now()  # Monday 2 March 2026, 10:00 UTC
    async with services.sessions() as db, db.begin():
        coach = await add_user(
            db, "coach@example.org", "coach", "a-long-password", now, name="Cara"
        )
        other = await add_user(db, "other@example.org", "coach", "a-long-password", now, name="Olu")
        worse = _participant(now, "+447911000001", "Amina Khan", "ur", coach)
        steady = _participant(now, "+447911000002", "Ben Smith", "en", coach, channel="whatsapp")
        elsewhere = _participant(now, "+447911000003", "Kasia Nowak", "pl", other)
        db.add_all([worse, steady, elsewhere])
        await db.flush()
        db.add_all(
            [
                ParticipantProfile(participant_id=worse.id, tier=3, postcode_district="BD3",
                                   interpreter_needed=True, interpreter_language="Pahari-Pothwari",
                                   beliefs_flag=False, updated_at=now),
                ParticipantProfile(participant_id=steady.id, tier=1, postcode_district="BD9",
                                   interpreter_needed=False, beliefs_flag=False, updated_at=now),
                TierChange(participant_id=worse.id, from_tier=2, to_tier=3,
                           note="CBT agreed with GP", decided_by=coach.id, actor="test",
                           at=now - 3 * DAY),
            ]
        )  # fmt: skip
        for week, (pain, sleep, goal) in enumerate([(5, 6, 1), (7, 4, 0), (9, 2, -1)]):
            at = now - (14 - 7 * week) * DAY
            db.add_all(
                [
                    _answer(worse, "activity_checkin", "activity_pain", pain, at),
                    _answer(worse, "sleep_checkin", "sleep_quality", sleep, at),
                    _answer(worse, "goal_review", "goal_attainment", goal, at),
                    _answer(steady, "activity_checkin", "activity_pain", 4, at),
                    _answer(steady, "sleep_checkin", "sleep_quality", 7, at),
                ]
            )
        db.add(_answer(worse, "activity_checkin", "activity_helped_text",
                       "=HYPERLINK(\"x\") my sister Mariam helped", now - 2 * DAY))  # fmt: skip
        db.add_all(
            [
                Escalation(participant_id=worse.id, priority="urgent", reason="Crisis words",
                           source="safety", status="claimed", assignee_id=coach.id,
                           created_at=now - 5 * DAY, updated_at=now - 5 * DAY,
                           claimed_at=now - 5 * DAY + timedelta(minutes=10)),
                Escalation(participant_id=worse.id, priority="high",
                           reason="Pain 9 or 10 during activity on 2 check-ins in a row",
                           source="flow", status="open", created_at=now - DAY,
                           updated_at=now - DAY),
                Escalation(participant_id=steady.id, priority="routine",
                           reason="Asked to talk to a coach", source="keyword", status="resolved",
                           created_at=now - 10 * DAY, updated_at=now - 9 * DAY,
                           resolved_at=now - 9 * DAY, outcome="contacted"),
                Escalation(participant_id=elsewhere.id, priority="routine",
                           reason="Asked to talk to a coach", source="keyword", status="open",
                           created_at=now - 2 * DAY, updated_at=now - 2 * DAY),
            ]
        )  # fmt: skip
        db.add_all(
            [
                _item(worse, "w1", now - 13 * DAY, "answered"),
                _item(worse, "w2", now - 6 * DAY, "missed"),
                _item(worse, "w3", now - 2 * DAY, "missed", flow="activity_checkin"),
                _item(steady, "s1", now - 13 * DAY, "answered"),
                _item(steady, "s2", now - 6 * DAY, "answered"),
                _item(elsewhere, "e1", now - 6 * DAY, "missed"),
                _item(elsewhere, "e2", now + DAY, None, status="pending"),
            ]
        )
        session = ModuleSession(
            module="keeping_active", starts_at=now - 4 * DAY, venue="Community Centre",
            language="en", booked=2, reminders=[], status="scheduled", created_at=now - 20 * DAY,
            updated_at=now - 20 * DAY,
        )  # fmt: skip
        db.add(session)
        await db.flush()
        db.add_all(
            [
                ModuleBooking(session_id=session.id, participant_id=steady.id, status="attended",
                              created_at=now - 15 * DAY, updated_at=now - 4 * DAY),
                ModuleBooking(session_id=session.id, participant_id=worse.id, status="no_show",
                              created_at=now - 15 * DAY, updated_at=now - 4 * DAY),
            ]
        )  # fmt: skip
    return World(coach, other, worse, steady, elsewhere)
