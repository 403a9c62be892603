"""The escalation lifecycle with the real host: open, repeat, claim, note, resolve, reassign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.errors import Conflict, ValidationError
from bot.escalations import lifecycle
from bot.escalations.access import Forbidden
from bot.host.escalations import open_escalation
from bot.host.services import Services
from bot.store.models import EscalationNote, OutboxMessage, Participant, User
from tests.escalations.helpers import add_staff, audit_actions, item
from tests.host.helpers import escalations, make_participant, refreshed, say

CRISIS = "I want to kill myself"


async def _crisis_item(services: Services, coach: User | None = None) -> tuple[Participant, int]:
    person = await make_participant(services, coach=coach.id if coach else None)
    await say(services, person, CRISIS)
    (opened,) = await escalations(services, person.id)
    return person, opened.id


async def _run(services: Services, action: str, item_id: int, user: User, *args: object) -> object:
    async with services.sessions() as db, db.begin():
        found, participant = await lifecycle.load_item(db, item_id)
        fn = getattr(lifecycle, action)
        return await fn(db, found, participant, user, *args, services.clock.now())


async def test_a_crisis_opens_one_urgent_item_with_a_staffed_deadline(
    services: Services, clock: FixedClock
) -> None:
    person, item_id = await _crisis_item(services)
    opened = await item(services, item_id)
    assert (opened.priority, opened.status) == ("urgent", "open")
    assert opened.deadline_at == clock.now() + timedelta(minutes=15)  # Monday 10:00, staffed
    assert (await refreshed(services, person)).status == "paused"


async def test_a_crisis_out_of_hours_is_due_when_the_service_opens(
    services: Services, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=5, hours=12))  # Saturday 22:00
    _person, item_id = await _crisis_item(services)
    deadline = (await item(services, item_id)).deadline_at
    assert deadline is not None and deadline.isoformat() == "2026-03-09T09:15:00+00:00"


async def test_a_repeat_adds_to_the_open_item_and_a_new_one_opens_after_resolving(
    services: Services, clock: FixedClock
) -> None:
    coach = await add_staff(services, "coach")
    person, item_id = await _crisis_item(services, coach)
    clock.advance(timedelta(minutes=1))
    await say(services, person, CRISIS)
    items = await escalations(services, person.id)
    assert [i.id for i in items] == [item_id] and items[0].occurrences == 2
    await _run(services, "resolve", item_id, coach, "contacted", "Called them back")
    await say(services, person, CRISIS)
    assert [i.status for i in await escalations(services, person.id)] == ["resolved", "open"]


async def test_a_repeat_at_a_higher_priority_raises_the_item_and_its_deadline(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    async with services.sessions() as db, db.begin():
        first = await open_escalation(
            db, participant_id=person.id, priority="routine", reason="Pain worse",
            source="flow", now=clock.now(),
        )  # fmt: skip
        first.notify_level = 1
    clock.advance(timedelta(minutes=30))
    async with services.sessions() as db, db.begin():
        again = await open_escalation(
            db, participant_id=person.id, priority="urgent", reason="Pain worse",
            source="flow", now=clock.now(),
        )  # fmt: skip
    raised = await item(services, again.id)
    assert again.id == first.id
    assert raised.priority == "urgent" and raised.notify_level == 0
    assert raised.deadline_at == clock.now() + timedelta(minutes=15)


async def test_claim_note_resolve_are_audited_with_who(services: Services) -> None:
    coach = await add_staff(services, "coach")
    _person, item_id = await _crisis_item(services, coach)
    assert await _run(services, "claim", item_id, coach) is True
    assert await _run(services, "claim", item_id, coach) is False  # already theirs
    await _run(services, "add_note", item_id, coach, "<script>alert(1)</script> left a message")
    await _run(services, "resolve", item_id, coach, "contacted", "Spoke to them; safe plan agreed")
    done = await item(services, item_id)
    assert (done.status, done.outcome, done.assignee_id) == ("resolved", "contacted", coach.id)
    async with services.sessions() as db:
        notes = list(await db.scalars(select(EscalationNote.text).order_by(EscalationNote.id)))
    assert (
        notes[0] == "<script>alert(1)</script> left a message"
    )  # stored as typed, escaped when shown
    actions = await audit_actions(services, f"escalation:{item_id}")
    assert actions[-3:] == [
        (f"user:{coach.id}", "escalation.claim"),
        (f"user:{coach.id}", "escalation.note"),
        (f"user:{coach.id}", "escalation.resolve"),
    ]
    with pytest.raises(Conflict):
        await _run(services, "resolve", item_id, coach, "contacted", "again")


@pytest.mark.parametrize(
    ("outcome", "note", "code"),
    [
        ("contacted", "", "missing_note"),
        ("contacted", "   ", "missing_note"),
        ("contacted", "x" * 4001, "note_too_long"),
        ("contacted", "take 1 \u202etelbat\u202c now", "invalid_note"),
        ("contacted", "bell\x07", "invalid_note"),
        ("magic", "fine", "invalid_outcome"),
        (None, "fine", "invalid_outcome"),
    ],
)
async def test_resolving_needs_a_real_outcome_and_a_clean_note(
    services: Services, outcome: object, note: str, code: str
) -> None:
    coach = await add_staff(services, "coach")
    _person, item_id = await _crisis_item(services, coach)
    with pytest.raises(ValidationError) as refused:
        await _run(services, "resolve", item_id, coach, outcome, note)
    assert refused.value.code == code
    assert (await item(services, item_id)).status == "open"


async def test_right_to_left_letters_are_fine_in_notes(services: Services) -> None:
    coach = await add_staff(services, "coach")
    _person, item_id = await _crisis_item(services, coach)
    note = await _run(services, "add_note", item_id, coach, "بات ہو گئی، سب ٹھیک ہے")
    assert isinstance(note, EscalationNote) and note.text == "بات ہو گئی، سب ٹھیک ہے"


async def test_coaches_act_only_on_their_caseload_and_unassigned_items(
    services: Services,
) -> None:
    mine, other = await add_staff(services, "coach"), await add_staff(services, "coach")
    staff = await add_staff(services, "staff")
    _person, item_id = await _crisis_item(services, mine)
    for outsider in (other, staff):
        with pytest.raises(Forbidden):
            await _run(services, "claim", item_id, outsider)
    _nobody, unassigned_id = await _crisis_item(services, None)
    assert await _run(services, "claim", unassigned_id, other) is True
    with pytest.raises(Forbidden):  # now it is another coach's item
        await _run(services, "claim", unassigned_id, mine)


async def test_a_lead_reassigns_and_the_item_is_open_for_the_new_coach(
    services: Services,
) -> None:
    first, second = await add_staff(services, "coach"), await add_staff(services, "coach")
    lead = await add_staff(services, "lead")
    _person, item_id = await _crisis_item(services, first)
    await _run(services, "claim", item_id, first)
    with pytest.raises(Forbidden):  # a coach who does not have it cannot hand it on
        await _run(services, "reassign", item_id, second, second.id)
    with pytest.raises(ValidationError):
        await _run(services, "reassign", item_id, lead, 999999)
    await _run(services, "reassign", item_id, lead, str(second.id))
    moved = await item(services, item_id)
    assert (moved.status, moved.assignee_id, moved.notify_level) == ("open", second.id, 0)
    assert await _run(services, "claim", item_id, second) is True
    assert (f"user:{lead.id}", "escalation.reassign") in await audit_actions(
        services, f"escalation:{item_id}"
    )


async def test_resume_and_reply(services: Services) -> None:
    coach = await add_staff(services, "coach")
    person, _item_id = await _crisis_item(services, coach)
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        row = await lifecycle.reply(
            db, fresh, coach, "I'm here. Can I call you?", services.clock.now()
        )
        await lifecycle.resume_checkins(db, fresh, coach, services.clock.now())
    assert (row.kind, row.user_id, row.participant_id) == ("coach", coach.id, person.id)
    assert (await refreshed(services, person)).status == "active"
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        with pytest.raises(Conflict):
            await lifecycle.resume_checkins(db, fresh, coach, services.clock.now())
    actions = await audit_actions(services, f"participant:{person.id}")
    assert (f"user:{coach.id}", "coach.reply") in actions
    assert (f"user:{coach.id}", "participant.resume") in actions


async def test_no_reply_reaches_an_opted_out_participant(services: Services) -> None:
    coach = await add_staff(services, "coach")
    person = await make_participant(services, coach=coach.id)
    await say(services, person, "STOP")
    async with services.sessions() as db:
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        with pytest.raises(Conflict):
            await lifecycle.reply(db, fresh, coach, "Hello?", services.clock.now())
        count = len(
            list(await db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "coach")))
        )
    assert count == 0
