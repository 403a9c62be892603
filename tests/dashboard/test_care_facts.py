"""Interpreter need is shown wherever a coach sees the participant; the beliefs note only to the care team."""

from __future__ import annotations

from datetime import timedelta

from bot.host.services import Services
from bot.store.models.staff import ParticipantProfile
from tests.dashboard.helpers import Client, login
from tests.escalations.helpers import add_staff
from tests.host.helpers import escalations, make_participant, say


async def _profile(services: Services, participant_id: int) -> None:
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add(
            ParticipantProfile(
                participant_id=participant_id, interpreter_needed=True, interpreter_language="Pahari",
                interpreter_gender="female", tier=2, beliefs_flag=True,
                beliefs_note="Prefers a faith-informed group", updated_at=now - timedelta(days=1),
            )
        )  # fmt: skip


async def test_the_coach_sees_interpreter_need_on_the_participant_and_item_pages(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "cf@example.org")
    person = await make_participant(services, coach=coach.id, language="ur")
    await _profile(services, person.id)
    await say(services, person, "I want to die")
    item = (await escalations(services, person.id))[0]
    await login(client, "cf@example.org")
    for path in (f"/participants/{person.id}", f"/items/{item.id}"):
        html = await (await client.get(path)).text()
        assert "Needed" in html and "Pahari" in html and "female" in html, path
        assert "Prefers a faith-informed group" in html, path  # the participant's own coach


async def test_the_beliefs_note_is_for_the_care_team_only(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "own@example.org")
    await add_staff(services, "staff", "desk@example.org")
    person = await make_participant(services, coach=coach.id)
    await _profile(services, person.id)
    await login(client, "desk@example.org")
    html = await (await client.get(f"/participants/{person.id}")).text()
    assert "Pahari" in html and "Flagged by the care team" in html
    assert "Prefers a faith-informed group" not in html


async def test_nothing_recorded_is_not_shown_as_not_needed(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "nr@example.org")
    person = await make_participant(services, coach=coach.id)
    await login(client, "nr@example.org")
    html = await (await client.get(f"/participants/{person.id}")).text()
    assert "Not recorded yet" in html and "Not needed" not in html
