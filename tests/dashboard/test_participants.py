"""The participant page: profile, goals mirrored for flows, schedule, timeline, audited views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.host.services import Services
from bot.store.models import AuditEntry
from bot.store.models.staffing import Goal
from tests.dashboard.helpers import Client, login, post_form
from tests.escalations.helpers import add_staff
from tests.host.helpers import make_participant, refreshed, say

AUTH = {"Authorization": "Bearer test-token"}


async def test_the_page_shows_the_profile_and_every_view_is_audited(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "pp@example.org", name="Priya")
    person = await make_participant(services, coach=coach.id, name="Kasia", language="pl")
    await say(services, person, "Dzień dobry")
    await login(client, "pp@example.org")
    for _ in range(2):
        response = await client.get(f"/participants/{person.id}")
    html = await response.text()
    assert response.status == 200
    for expected in ("Kasia", "Polish (Polski)", "sms", "Priya", "given", "Dzień dobry"):
        assert expected in html, expected
    async with services.sessions() as db:
        views = list(
            await db.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "participant.view",
                    AuditEntry.subject == f"participant:{person.id}",
                )
            )
        )
    assert len(views) == 2 and views[0].actor == f"user:{coach.id}"


async def test_goals_are_added_edited_retired_and_mirrored_for_flows(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "goals@example.org")
    person = await make_participant(services, coach=coach.id, fields={"area": "BD3"})
    token = await login(client, "goals@example.org")
    base = f"/participants/{person.id}/goals"
    for text in ("Walk to the shops twice", "Stretch every morning", "<b>Sleep</b> by 11"):
        response = await post_form(client, base, token, goal=text)
        assert response.status == 200 and "Goal added." in await response.text()
    fourth = await post_form(client, base, token, goal="One too many")
    assert fourth.status == 409 and "at most 3 active goals" in await fourth.text()
    fields = (await refreshed(services, person)).fields
    assert fields == {
        "area": "BD3",
        "goal_1": "Walk to the shops twice",
        "goal_2": "Stretch every morning",
        "goal_3": "<b>Sleep</b> by 11",
    }
    async with services.sessions() as db:
        ids = [g.id for g in await db.scalars(select(Goal).order_by(Goal.id))]
    edited = await post_form(client, f"{base}/{ids[1]}", token, goal="Stretch twice a day")
    assert "Goal saved." in await edited.text()
    retired = await post_form(client, f"{base}/{ids[0]}/retire", token)
    html = await retired.text()
    assert "Goal retired." in html and "&lt;b&gt;Sleep&lt;/b&gt;" in html
    fields = (await refreshed(services, person)).fields
    assert fields == {
        "area": "BD3",
        "goal_1": "Stretch twice a day",
        "goal_2": "<b>Sleep</b> by 11",
    }
    again = await post_form(client, f"{base}/{ids[0]}/retire", token)
    assert again.status == 409
    empty = await post_form(client, base, token, goal="   ")
    assert empty.status == 400
    long = await post_form(client, base, token, goal="x" * 201)
    assert long.status == 400
    async with services.sessions() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("goal.%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["goal.add", "goal.add", "goal.add", "goal.edit", "goal.retire"]


async def test_a_goal_of_another_participant_cannot_be_edited_through_this_one(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "cross@example.org")
    mine = await make_participant(services, coach=coach.id)
    theirs = await make_participant(services)
    token = await login(client, "cross@example.org")
    await add_staff(services, "lead", "lead3@example.org")
    async with services.sessions() as db, db.begin():
        goal = Goal(
            participant_id=theirs.id, text="Theirs", status="active",
            created_at=services.clock.now(), updated_at=services.clock.now(),
        )  # fmt: skip
        db.add(goal)
    response = await post_form(
        client, f"/participants/{mine.id}/goals/{goal.id}", token, goal="Mine"
    )
    assert response.status == 404
    async with services.sessions() as db:
        fresh = await db.get(Goal, goal.id)
    assert fresh is not None and fresh.text == "Theirs"


async def test_the_schedule_and_items_are_summarised(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "sched@example.org")
    person = await make_participant(services, coach=coach.id)
    schedule: dict[str, Any] = {
        "timezone": "Europe/London",
        "quiet_hours": ["21:00", "08:00"],
        "checkins": [
            {"flow": "sleep_checkin", "days": ["mon", "thu"], "window": ["10:00", "12:00"]}
        ],
    }
    stored = await client.put(
        f"/api/participants/{person.id}/schedule", json=schedule, headers=AUTH
    )
    assert stored.status == 200, await stored.text()
    await say(services, person, "I can't go on")
    await login(client, "sched@example.org")
    html = await (await client.get(f"/participants/{person.id}")).text()
    assert "sleep_checkin: mon, thu 10:00-12:00" in html
    assert "Quiet hours 21:00-08:00" in html
    assert "Crisis language" in html and "Safety screen: check-ins paused" in html
    assert 'id="resume"' in html


async def test_staff_edit_goals_but_cannot_message_or_resume(
    client: Client, services: Services
) -> None:
    await add_staff(services, "staff", "office@example.org")
    person = await make_participant(services)
    await say(services, person, "I can't go on")
    token = await login(client, "office@example.org")
    html = await (await client.get(f"/participants/{person.id}")).text()
    assert 'id="resume"' not in html
    assert (await post_form(client, f"/participants/{person.id}/resume", token)).status == 403
    added = await post_form(client, f"/participants/{person.id}/goals", token, goal="Swim")
    assert added.status == 200
