"""Erasure: a lead asks, a different admin confirms; identity and words go, the record stays."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.host.services import Services
from bot.store.models import (
    Answer,
    AuditEntry,
    Escalation,
    EscalationNote,
    InboundMessage,
    OutboxMessage,
    Participant,
    User,
)
from bot.store.models.scheduling import ScheduledItem
from bot.store.models.staff import CarerContact, ParticipantProfile
from tests.privacy.conftest import AUTH, make_user
from tests.reports.seed import World, seed


@pytest.fixture
async def world(services: Services) -> World:
    world = await seed(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add(InboundMessage(channel="sms", provider_id="SM1", participant_id=world.worse.id,
                              sender="+447911000001", text="I'm Amina, call me",
                              received_at=now))  # fmt: skip
        db.add(OutboxMessage(participant_id=world.worse.id, channel="sms", to="+447911000001",
                             body="Hi Amina", status="pending", kind="flow", not_before=now,
                             created_at=now))  # fmt: skip
        db.add(CarerContact(participant_id=world.worse.id, name="Sam", phone="+447912345678",
                            channel="sms", language="ur", participant_asked=True, consent=True,
                            created_at=now, updated_at=now))  # fmt: skip
        profile = await db.scalar(
            select(ParticipantProfile).where(ParticipantProfile.participant_id == world.worse.id)
        )
        assert profile is not None
        profile.beliefs_flag, profile.beliefs_note = True, "Prefers a faith-informed group"
        item = await db.scalar(select(Escalation).where(Escalation.priority == "urgent"))
        assert item is not None
        db.add(EscalationNote(escalation_id=item.id, author_id=world.coach.id,
                              text="Called, safe plan agreed", at=now))  # fmt: skip
    return world


@pytest.fixture
async def people(services: Services) -> tuple[User, User]:
    lead = await make_user(services, "lead@example.org", "lead")
    admin = await make_user(services, "admin@example.org", "admin")
    return lead, admin


async def ask(client: TestClient[Any, Any], pid: int, **body: Any) -> Any:
    return await client.post(f"/api/participants/{pid}/erasure-requests", json=body, headers=AUTH)


async def test_a_confirmed_erasure_removes_identity_and_words_but_keeps_the_record(
    client: TestClient[Any, Any], services: Services, world: World, people: tuple[User, User]
) -> None:
    lead, admin = people
    pid = world.worse.id
    response = await ask(client, pid, requested_by=lead.email, reason="Participant asked (ref 12)")
    assert response.status == 201
    request = await response.json()
    assert request["status"] == "requested"
    async with services.sessions() as db:
        untouched = await db.get(Participant, pid)
        assert untouched is not None and untouched.phone == "+447911000001"  # not yet
    response = await client.post(
        f"/api/erasure-requests/{request['id']}/confirm",
        json={"confirmed_by": admin.id},
        headers=AUTH,
    )
    assert response.status == 200
    assert (await response.json())["status"] == "confirmed"
    async with services.sessions() as db:
        gone = await db.get(Participant, pid)
        assert gone is not None
        assert (gone.phone, gone.name, gone.status, gone.consent) == (None, None, "erased", False)
        inbound = await db.scalar(
            select(InboundMessage).where(InboundMessage.participant_id == pid)
        )
        assert inbound is not None and inbound.text is None and inbound.sender == "[erased]"
        outbox = await db.scalar(select(OutboxMessage).where(OutboxMessage.participant_id == pid))
        assert outbox is not None and outbox.body is None and outbox.status == "cancelled"
        assert await db.scalar(select(func.count()).select_from(CarerContact)) == 0
        free = await db.scalar(select(Answer.value).where(Answer.key == "activity_helped_text"))
        assert free == "[erased]"
        pains = list(await db.scalars(select(Answer.value).where(
            Answer.participant_id == pid, Answer.key == "activity_pain")))  # fmt: skip
        assert pains == [5, 7, 9]  # the care record stays
        assert await db.scalar(select(func.count()).select_from(EscalationNote)) == 1
        profile = await db.scalar(
            select(ParticipantProfile).where(ParticipantProfile.participant_id == pid)
        )
        assert profile is not None and profile.beliefs_note is None and profile.tier == 3
        pending = await db.scalar(
            select(func.count()).where(
                ScheduledItem.participant_id == pid, ScheduledItem.status == "pending"
            )
        )
        assert pending == 0
        audit = list(await db.scalars(select(AuditEntry).where(
            AuditEntry.subject == f"participant:{pid}")))  # fmt: skip
    actions = [a.action for a in audit]
    assert actions == ["erasure.request", "erasure.confirmed", "participant.erase"]
    flat = str([(a.actor, a.detail) for a in audit])
    for erased in ("Amina", "+447911000001", "call me", "faith"):
        assert erased not in flat
    assert (await client.get(f"/api/participants/{pid}", headers=AUTH)).status == 404
    assert (await ask(client, pid, requested_by=lead.id, reason="again")).status == 404


async def test_only_a_lead_asks_and_only_another_admin_confirms(
    client: TestClient[Any, Any], services: Services, world: World, people: tuple[User, User]
) -> None:
    lead, admin = people
    pid = world.steady.id
    response = await ask(client, pid, requested_by=world.coach.id, reason="x")
    assert (await response.json())["error"]["code"] == "invalid_requested_by"
    response = await ask(client, pid, requested_by=lead.id, reason="")
    assert (await response.json())["error"]["code"] == "invalid_reason"
    response = await ask(client, pid, requested_by=lead.id, reason="ok", phone="x")
    assert (await response.json())["error"]["code"] == "unknown_field"
    request = await (await ask(client, pid, requested_by=lead.id, reason="asked")).json()
    assert (await ask(client, pid, requested_by=lead.id, reason="again")).status == 409
    url = f"/api/erasure-requests/{request['id']}"
    response = await client.post(f"{url}/confirm", json={"confirmed_by": lead.id}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "invalid_confirmed_by"
    response = await client.post(f"{url}/reject", json={"rejected_by": admin.id}, headers=AUTH)
    assert (await response.json())["status"] == "rejected"
    response = await client.post(f"{url}/confirm", json={"confirmed_by": admin.id}, headers=AUTH)
    assert response.status == 409
    async with services.sessions() as db:
        kept = await db.get(Participant, pid)
        assert kept is not None and kept.status == "active" and kept.phone is not None
    listed = await (await client.get("/api/erasure-requests?status=rejected", headers=AUTH)).json()
    assert [r["id"] for r in listed] == [request["id"]]
    assert (await client.get("/api/erasure-requests?status=x", headers=AUTH)).status == 400
    assert (await client.post("/api/erasure-requests/999/confirm", json={"confirmed_by": admin.id},
                              headers=AUTH)).status == 404  # fmt: skip
