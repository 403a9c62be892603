"""The schedule page: a participant's check-ins edited through the API's own checks."""

from __future__ import annotations

import html as html_lib
from typing import Any

import pytest
from sqlalchemy import select

from bot.host.services import Services
from bot.store.models import AuditEntry
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem
from tests.dashboard.helpers import Client, login, post_form
from tests.escalations.helpers import add_staff
from tests.host.helpers import make_participant, refreshed

GOOD: dict[str, str] = {
    "timezone": "Europe/London",
    "quiet_start": "21:00",
    "quiet_end": "08:00",
    "checkin_0_flow": "sleep_checkin",
    "checkin_0_mon": "yes",
    "checkin_0_thu": "yes",
    "checkin_0_start": "10:00",
    "checkin_0_end": "12:00",
    "checkin_1_flow": "",
    "checkin_1_start": "",
    "checkin_1_end": "",
    "taper_after": "4",
    "taper_every": "2",
    "faith_friday_prayers": "yes",
}


async def stored(services: Services, participant_id: int) -> CheckinSchedule | None:
    async with services.sessions() as db:
        row: CheckinSchedule | None = await db.scalar(
            select(CheckinSchedule).where(CheckinSchedule.participant_id == participant_id)
        )
        return row


async def audits(services: Services, action: str) -> list[AuditEntry]:
    async with services.sessions() as db:
        return list(await db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_a_coach_sets_the_schedule_of_their_participant(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "sched@example.org")
    person = await make_participant(services, coach=coach.id, name="Amir")
    token = await login(client, "sched@example.org")
    profile = await client.get(f"/participants/{person.id}")
    assert f'href="/participants/{person.id}/schedule"' in await profile.text()
    blank = await client.get(f"/participants/{person.id}/schedule")
    text = await blank.text()
    assert blank.status == 200 and "programme defaults" in text and "goal_review" in text

    saved = await post_form(client, f"/participants/{person.id}/schedule", token, **GOOD)
    page = await saved.text()
    assert saved.status == 200 and "Schedule saved." in page, page
    assert str(saved.url.path) == f"/participants/{person.id}/schedule"
    row = await stored(services, person.id)
    assert row is not None and not row.paused
    assert row.spec["checkins"] == [
        {"flow": "sleep_checkin", "days": ["mon", "thu"], "window": ["10:00", "12:00"]}
    ]
    assert row.spec["taper"] == {"after_weeks": 4, "every_weeks": 2}
    assert row.spec["faith_quiet_times"] == ["friday_prayers"]
    # The saved values come back in the form.
    assert 'name="checkin_0_thu" value="yes" checked' in page
    assert 'id="taper_after" name="taper_after" inputmode="numeric" maxlength="6" value="4"' in page
    updates = await audits(services, "schedule.update")
    assert [a.actor for a in updates] == [f"user:{coach.id}"]  # audited once, by the user
    async with services.sessions() as db:
        planned = list(
            await db.scalars(select(ScheduledItem).where(ScheduledItem.participant_id == person.id))
        )
    assert planned and all(p.flow_id == "sleep_checkin" for p in planned)


BAD = [
    ({"quiet_start": "25:00"}, "quiet", "quiet_hours start must be a time of day", "25:00"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone", "Mars/Olympus"),
    (
        {"checkin_0_start": "10:00", "checkin_0_end": "10:10"},
        "checkin_0",
        "Check-in 1: window must be at least 15 minutes long",
        "10:10",
    ),
    ({"checkin_0_flow": "no_such_flow"}, "checkin_0", "is not a loaded flow", "no_such_flow"),
    ({"taper_after": "4", "taper_every": "x"}, "taper", "must be a whole number", "x"),
]


@pytest.mark.parametrize(("change", "field", "message", "kept"), BAD)
async def test_bad_input_is_shown_next_to_its_field_and_nothing_is_saved(
    client: Client,
    services: Services,
    change: dict[str, str],
    field: str,
    message: str,
    kept: str,
) -> None:
    coach = await add_staff(services, "coach", "bad@example.org")
    person = await make_participant(services, coach=coach.id)
    token = await login(client, "bad@example.org")
    path = f"/participants/{person.id}/schedule"
    first = await post_form(client, path, token, **GOOD)
    assert "Schedule saved." in await first.text()
    before = await stored(services, person.id)
    assert before is not None

    form: dict[str, Any] = {**GOOD, **change}
    if field != "timezone":
        form["timezone"] = "America/New_York"  # valid, but must not be stored either
    response = await post_form(client, path, token, **form)
    page = html_lib.unescape(await response.text())
    assert response.status == 400, page
    assert f'id="{field}-error"' in page and message in page
    assert f'value="{kept}"' in page  # what was typed is kept
    after = await stored(services, person.id)
    assert after is not None and after.spec == before.spec
    assert (await refreshed(services, person)).timezone == "Europe/London"
    assert len(await audits(services, "schedule.update")) == 1


async def test_a_coach_cannot_open_or_edit_another_coachs_participant(
    client: Client, services: Services
) -> None:
    owner = await add_staff(services, "coach", "owner@example.org")
    await add_staff(services, "coach", "other@example.org")
    person = await make_participant(services, coach=owner.id)
    token = await login(client, "other@example.org")
    path = f"/participants/{person.id}/schedule"
    assert (await client.get(path)).status == 403
    refused = await post_form(client, path, token, **GOOD)
    assert refused.status == 403
    assert (await post_form(client, path + "/pause", token)).status == 403
    assert await stored(services, person.id) is None


@pytest.mark.parametrize("role", ["staff", "lead"])
async def test_staff_and_leads_may_edit_any_schedule(
    client: Client, services: Services, role: str
) -> None:
    await add_staff(services, role, f"{role}-s@example.org")
    person = await make_participant(services)
    token = await login(client, f"{role}-s@example.org")
    response = await post_form(client, f"/participants/{person.id}/schedule", token, **GOOD)
    assert "Schedule saved." in await response.text()
    assert await stored(services, person.id) is not None


async def test_admins_may_not_edit_schedules(client: Client, services: Services) -> None:
    await add_staff(services, "admin", "adm-s@example.org")
    person = await make_participant(services)
    token = await login(client, "adm-s@example.org")
    response = await post_form(client, f"/participants/{person.id}/schedule", token, **GOOD)
    assert response.status == 403
    assert await stored(services, person.id) is None


async def test_pause_and_resume(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "pause@example.org")
    person = await make_participant(services, coach=coach.id)
    token = await login(client, "pause@example.org")
    path = f"/participants/{person.id}/schedule"
    await post_form(client, path, token, **GOOD)
    paused = await post_form(client, path + "/pause", token)
    text = await paused.text()
    assert "Check-ins paused." in text and "are paused" in text
    row = await stored(services, person.id)
    assert row is not None and row.paused and row.spec["paused"] is True
    async with services.sessions() as db:
        pending = await db.scalar(
            select(ScheduledItem.id).where(
                ScheduledItem.participant_id == person.id, ScheduledItem.status == "pending"
            )
        )
    resumed = await post_form(client, path + "/resume", token)
    assert "Check-ins resumed." in await resumed.text()
    row = await stored(services, person.id)
    assert row is not None and not row.paused
    assert pending is not None
    actors = {a.actor for a in await audits(services, "schedule.pause")}
    actors |= {a.actor for a in await audits(services, "schedule.resume")}
    assert actors == {f"user:{coach.id}"}


async def test_a_form_without_the_csrf_token_is_refused(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "csrf-s@example.org")
    person = await make_participant(services, coach=coach.id)
    await login(client, "csrf-s@example.org")
    response = await client.post(f"/participants/{person.id}/schedule", data=GOOD)
    assert response.status == 403
    assert await stored(services, person.id) is None


async def test_typed_text_is_escaped(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "esc-s@example.org")
    person = await make_participant(services, coach=coach.id)
    token = await login(client, "esc-s@example.org")
    form = {**GOOD, "timezone": '"><script>x</script>'}
    response = await post_form(client, f"/participants/{person.id}/schedule", token, **form)
    page = await response.text()
    assert response.status == 400 and "<script>x" not in page and "&lt;script&gt;" in page


async def test_clearing_a_row_removes_that_checkin(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "clear-s@example.org")
    person = await make_participant(services, coach=coach.id)
    token = await login(client, "clear-s@example.org")
    path = f"/participants/{person.id}/schedule"
    await post_form(client, path, token, **GOOD)
    cleared = {k: v for k, v in GOOD.items() if k not in ("checkin_0_mon", "checkin_0_thu")}
    cleared["checkin_0_flow"] = ""
    response = await post_form(client, path, token, **cleared)
    assert "Schedule saved." in await response.text()
    row = await stored(services, person.id)
    assert row is not None and row.spec["checkins"] == []
    # A row with days but no flow is refused rather than silently dropped.
    half = {**GOOD, "checkin_0_flow": ""}
    refused = await post_form(client, path, token, **half)
    assert refused.status == 400 and "Check-in 1: flow is required" in await refused.text()
