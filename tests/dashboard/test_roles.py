"""Who sees what: caseloads, unassigned items, 403 on someone else's id, role landings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.host.escalations import open_escalation
from bot.host.services import Services
from bot.store.models import AuditEntry, Escalation, Participant, User
from tests.dashboard.helpers import Client, login, post_form
from tests.escalations.helpers import add_staff
from tests.host.helpers import make_participant


async def _item(
    services: Services, participant: Participant | None, priority: str, reason: str
) -> Escalation:
    async with services.sessions() as db, db.begin():
        return await open_escalation(
            db, participant_id=participant.id if participant else None, priority=priority,
            reason=reason, source="test", now=services.clock.now(),
        )  # fmt: skip


async def _world(services: Services, clock: FixedClock) -> dict[str, object]:
    alice = await add_staff(services, "coach", "alice@example.org", name="Alice")
    bob = await add_staff(services, "coach", "bob@example.org", name="Bob")
    await add_staff(services, "lead", "lead@example.org")
    await add_staff(services, "staff", "staff@example.org")
    await add_staff(services, "admin", "admin@example.org")
    alices = await make_participant(services, coach=alice.id, name="Ayesha")
    bobs = await make_participant(services, coach=bob.id, name="Bartek")
    nobodys = await make_participant(services, name="Nadia")
    routine = await _item(services, alices, "routine", "Alice routine, oldest")
    clock.advance(timedelta(minutes=1))
    urgent = await _item(services, alices, "urgent", "Alice urgent")
    clock.advance(timedelta(minutes=1))
    high = await _item(services, alices, "high", "Alice high")
    clock.advance(timedelta(minutes=1))
    urgent_newer = await _item(services, nobodys, "urgent", "Unassigned urgent")
    bobs_item = await _item(services, bobs, "urgent", "Bob urgent")
    return {
        "alice": alice, "bob": bob, "alices": alices, "bobs": bobs, "nobodys": nobodys,
        "routine": routine, "urgent": urgent, "high": high, "urgent_newer": urgent_newer,
        "bobs_item": bobs_item,
    }  # fmt: skip


def _reasons(html: str) -> list[str]:
    marker = '<a class="reason" href="/items/'
    return [
        chunk.split('<span dir="auto">', 1)[1].split("</span>", 1)[0]
        for chunk in html.split(marker)[1:]
    ]


async def test_a_coach_queue_is_their_caseload_and_unassigned_items_by_priority_then_age(
    client: Client, services: Services, clock: FixedClock
) -> None:
    await _world(services, clock)
    await login(client, "alice@example.org")
    html = await (await client.get("/")).text()
    assert _reasons(html) == [
        "Alice urgent", "Unassigned urgent", "Alice high", "Alice routine, oldest",
    ]  # fmt: skip
    assert "Bob urgent" not in html
    assert "due in" in html  # countdowns
    mine = _reasons(await (await client.get("/?view=mine")).text())
    assert mine == ["Alice urgent", "Alice high", "Alice routine, oldest"]
    unassigned_urgent = await client.get("/?view=unassigned&priority=urgent")
    assert _reasons(await unassigned_urgent.text()) == ["Alice urgent", "Unassigned urgent"]


async def test_overdue_items_say_so(client: Client, services: Services, clock: FixedClock) -> None:
    await _world(services, clock)
    await login(client, "alice@example.org")
    clock.advance(timedelta(minutes=30))
    assert "overdue by" in await (await client.get("/")).text()


@pytest.mark.parametrize("bad", ["view=everything", "priority=critical", "status=deleted"])
async def test_bad_filters_are_a_400(
    client: Client, services: Services, clock: FixedClock, bad: str
) -> None:
    await _world(services, clock)
    await login(client, "alice@example.org")
    assert (await client.get(f"/?{bad}")).status == 400


async def test_a_lead_sees_every_item(
    client: Client, services: Services, clock: FixedClock
) -> None:
    await _world(services, clock)
    await login(client, "lead@example.org")
    html = await (await client.get("/")).text()
    assert len(_reasons(html)) == 5 and "Bob urgent" in html


async def test_changing_the_id_in_the_url_gets_a_403(
    client: Client, services: Services, clock: FixedClock
) -> None:
    world = await _world(services, clock)
    bobs_item, bobs = world["bobs_item"], world["bobs"]
    assert isinstance(bobs_item, Escalation) and isinstance(bobs, Participant)
    token = await login(client, "alice@example.org")
    assert (await client.get(f"/items/{bobs_item.id}")).status == 403
    assert (await client.get(f"/participants/{bobs.id}")).status == 403
    for action in ("claim", "note", "resolve", "reply", "resume", "reassign"):
        response = await post_form(
            client, f"/items/{bobs_item.id}/{action}", token,
            note="x", reply="x", outcome="contacted", resolve_note="x", assignee="1",
        )  # fmt: skip
        assert response.status == 403, action
    for path in (f"/participants/{bobs.id}/goals", f"/participants/{bobs.id}/resume"):
        assert (await post_form(client, path, token, goal="Walk")).status == 403
    async with services.sessions() as db:
        fresh = await db.get(Escalation, bobs_item.id)
        views = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "participant.view"))
        )
    assert fresh is not None and fresh.status == "open" and fresh.assignee_id is None
    assert views == []  # a refused page is not a view
    assert (await client.get("/items/999999")).status == 404
    assert (await client.get("/items/abc")).status == 404
    assert (await client.get("/items/" + "9" * 30)).status == 404


async def test_a_coach_sees_the_participant_of_an_unassigned_item(
    client: Client, services: Services, clock: FixedClock
) -> None:
    world = await _world(services, clock)
    nobodys = world["nobodys"]
    assert isinstance(nobodys, Participant)
    await login(client, "bob@example.org")
    assert (await client.get(f"/participants/{nobodys.id}")).status == 200
    listing = await (await client.get("/participants")).text()
    assert "Bartek" in listing and "Nadia" in listing and "Ayesha" not in listing


async def test_roles_land_where_they_work(
    client: Client, services: Services, clock: FixedClock
) -> None:
    world = await _world(services, clock)
    alices = world["alices"]
    urgent = world["urgent"]
    assert isinstance(alices, Participant) and isinstance(urgent, Escalation)
    await login(client, "staff@example.org")
    assert str((await client.get("/")).url.path) == "/participants"
    assert (await client.get(f"/participants/{alices.id}")).status == 200
    assert (await client.get(f"/items/{urgent.id}")).status == 403
    assert (await client.get("/users")).status == 403
    client.session.cookie_jar.clear()
    await login(client, "admin@example.org")
    assert str((await client.get("/")).url.path) == "/users"
    assert (await client.get(f"/participants/{alices.id}")).status == 403
    assert (await client.get(f"/items/{urgent.id}")).status == 403
    client.session.cookie_jar.clear()
    await login(client, "alice@example.org")
    assert (await client.get("/users")).status == 403


async def test_an_admin_manages_users_and_contacts(client: Client, services: Services) -> None:
    await add_staff(services, "admin", "root@example.org")
    token = await login(client, "root@example.org")
    created = await post_form(
        client, "/users", token, email="new.coach@example.org", role="coach", name="<b>New</b>"
    )
    html = await created.text()
    assert created.status == 200 and 'id="new-password"' in html
    assert "&lt;b&gt;New&lt;/b&gt;" in html and "<b>New</b>" not in html
    async with services.sessions() as db:
        user = await db.scalar(select(User).where(User.email == "new.coach@example.org"))
    assert user is not None and user.role == "coach"
    bad = await post_form(client, f"/users/{user.id}", token, telegram_chat_id="not a number")
    assert bad.status == 400
    saved = await post_form(
        client, f"/users/{user.id}", token, telegram_chat_id="123456", work_phone="07911 123456"
    )
    assert saved.status == 200
    refused = await post_form(client, "/users", token, email="x", role="coach")
    assert refused.status == 400
    off = await post_form(client, f"/users/{user.id}/active", token, active="no")
    assert off.status == 200
    async with services.sessions() as db:
        user = await db.get(User, user.id)
    assert user is not None
    assert (user.telegram_chat_id, user.work_phone, user.active) == (
        "123456",
        "+447911123456",
        False,
    )
