"""The participant API beyond enrolment: update, coach, caseload, tiers, beliefs, carer."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.host.services import Services
from bot.store.models import AuditEntry, Consent, Participant, User
from tests.staff.conftest import AUTH, make_user

ALICE = {"phone": "+447911123456", "channel": "sms", "language": "en", "consent": True}


async def create(client: TestClient[Any, Any], **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/participants", json={**ALICE, **overrides}, headers=AUTH)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def patch(client: TestClient[Any, Any], pid: int, body: Any) -> Any:
    return await client.patch(f"/api/participants/{pid}", json=body, headers=AUTH)


async def audit_actions(services: Services) -> list[str]:
    async with services.sessions() as db:
        return list(await db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_patch_changes_only_the_fields_given_and_audits_their_names(
    client: TestClient[Any, Any], services: Services, coach: User
) -> None:
    pid = (await create(client))["id"]
    response = await patch(
        client,
        pid,
        {
            "language": "pa-Guru",
            "timezone": "Europe/Warsaw",
            "name": "Harpreet",
            "coach": "coach@example.org",
            "interpreter_needed": True,
            "interpreter_language": "Punjabi",
            "postcode": "bd7 1aa",
        },
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["language"] == "pa_Guru" and body["timezone"] == "Europe/Warsaw"
    assert body["coach_id"] == coach.id and body["name"] == "Harpreet"
    assert body["interpreter"] == {"needed": True, "language": "Punjabi", "gender": None}
    assert body["postcode_district"] == "BD7" and body["phone"] == "+447911123456"
    async with services.sessions() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "participant.update"))
        assert entry is not None
        assert "Harpreet" not in str(entry.detail) and "name" in entry.detail["fields"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"language": "tlh"}, 400, "unknown_language"),
        ({"timezone": "Mars/Base"}, 400, "invalid_timezone"),
        ({"channel": "pigeon"}, 400, "invalid_channel"),
        ({"consent": "yes"}, 400, "invalid_consent"),
        ({"name": 7}, 400, "invalid_name"),
        ({"name": "x" * 100_000}, 400, "invalid_name"),
        ({"phone": "'; DROP TABLE participants; --"}, 400, "invalid_phone"),
        ({"coach": "nobody@example.org"}, 400, "invalid_coach"),
        ({"status": "erased"}, 400, "unknown_field"),
        ({"interpreter_language": "<b>Urdu</b>"}, 400, "invalid_interpreter_language"),
        ({"postcode": "SW1A 1AA 1AA"}, 400, "invalid_postcode"),
        ({"channel": "telegram", "phone": None, "language": "xx"}, 400, "unknown_language"),
    ],
)
async def test_a_bad_patch_changes_nothing(
    client: TestClient[Any, Any], services: Services, body: dict[str, Any], status: int, code: str
) -> None:
    pid = (await create(client))["id"]
    before = await (await client.get(f"/api/participants/{pid}", headers=AUTH)).json()
    response = await patch(client, pid, {"name": "Changed", **body})
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    after = await (await client.get(f"/api/participants/{pid}", headers=AUTH)).json()
    assert after == before
    assert "participant.update" not in await audit_actions(services)


async def test_patch_refuses_non_objects_and_unknown_participants(
    client: TestClient[Any, Any],
) -> None:
    pid = (await create(client))["id"]
    response = await client.patch(f"/api/participants/{pid}", data=b"[1,2]", headers=AUTH)
    assert response.status == 400
    response = await patch(client, 999999, {"name": "x"})
    assert response.status == 404
    response = await patch(client, pid, {})
    assert (await response.json())["error"]["code"] == "empty_update"


async def test_switching_channel_needs_a_phone_and_fresh_consent(
    client: TestClient[Any, Any], services: Services
) -> None:
    pid = (await create(client, channel="telegram", phone=None))["id"]
    response = await patch(client, pid, {"channel": "sms"})
    assert (await response.json())["error"]["code"] == "missing_phone"
    response = await patch(client, pid, {"channel": "whatsapp", "phone": "07911 123499"})
    body = await response.json()
    assert body["channel"] == "whatsapp" and body["consent"] is False  # consent is per channel
    response = await patch(client, pid, {"consent": True})
    assert (await response.json())["consent"] is True
    async with services.sessions() as db:
        consents = {c.channel: c.given for c in await db.scalars(select(Consent))}
    assert consents == {"telegram": True, "whatsapp": True}


async def test_a_phone_in_use_by_someone_else_is_a_conflict(client: TestClient[Any, Any]) -> None:
    await create(client)
    other = (await create(client, phone="+447911123457"))["id"]
    response = await patch(client, other, {"phone": "07911 123456"})
    assert response.status == 409


async def test_assign_and_reassign_a_coach_and_see_the_caseload(
    client: TestClient[Any, Any], services: Services, coach: User, lead: User
) -> None:
    first = (await create(client))["id"]
    second = (await create(client, phone="+447911123457"))["id"]
    for pid in (first, second):
        response = await client.put(
            f"/api/participants/{pid}/coach", json={"coach": coach.id}, headers=AUTH
        )
        assert response.status == 200
    response = await client.put(
        f"/api/participants/{second}/coach", json={"coach": "lead@example.org"}, headers=AUTH
    )
    assert (await response.json())["coach_id"] == lead.id
    caseload = await (
        await client.get(f"/api/coaches/{coach.id}/participants", headers=AUTH)
    ).json()
    assert [p["id"] for p in caseload] == [first]
    assert caseload[0]["open_escalations"] == 0 and "interpreter" in caseload[0]
    staff = await make_user(services, "staff@example.org", "staff")
    response = await client.put(
        f"/api/participants/{first}/coach", json={"coach": staff.id}, headers=AUTH
    )
    assert response.status == 400  # only coaches and leads hold a caseload
    response = await client.get(f"/api/coaches/{staff.id}/participants", headers=AUTH)
    assert response.status == 404
    response = await client.put(
        f"/api/participants/{first}/coach", json={"coach": None, "x": 1}, headers=AUTH
    )
    assert response.status == 400
    assert (await audit_actions(services)).count("participant.coach") == 3


async def test_tiers_keep_history_and_tier_3_needs_a_coach_and_a_note(
    client: TestClient[Any, Any], coach: User
) -> None:
    pid = (await create(client))["id"]
    url = f"/api/participants/{pid}/tier"
    assert (await client.post(url, json={"tier": 1}, headers=AUTH)).status == 201
    assert (await client.post(url, json={"tier": 2}, headers=AUTH)).status == 201
    response = await client.post(url, json={"tier": 3, "decided_by": coach.id}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "missing_note"
    response = await client.post(url, json={"tier": 3, "note": "CBT agreed"}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "missing_decided_by"
    response = await client.post(
        url, json={"tier": 3, "note": "CBT agreed at MDT", "decided_by": coach.id}, headers=AUTH
    )
    assert response.status == 201
    body = await (await client.get(url, headers=AUTH)).json()
    assert body["tier"] == 3
    assert [(h["from_tier"], h["to_tier"]) for h in body["history"]] == [
        (None, 1),
        (1, 2),
        (2, 3),
    ]
    assert body["history"][2]["note"] == "CBT agreed at MDT"
    assert body["history"][2]["decided_by"] == coach.id
    for bad in ({"tier": 4}, {"tier": "2"}, {"tier": True}, {"tier": 2, "colour": "red"}):
        assert (await client.post(url, json=bad, headers=AUTH)).status == 400
    assert (await client.post(url, json={"tier": 3, "note": "again", "decided_by": coach.id},
                              headers=AUTH)).status == 409  # fmt: skip


async def test_the_beliefs_flag_needs_a_note_and_each_read_is_audited(
    client: TestClient[Any, Any], services: Services, coach: User
) -> None:
    pid = (await create(client))["id"]
    url = f"/api/participants/{pid}/beliefs"
    response = await client.put(url, json={"flag": True, "by": coach.id}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "missing_note"
    note = "Prefers faith-informed group; see Beliefs, Faith and Pain module"
    response = await client.put(
        url, json={"flag": True, "note": note, "by": coach.id}, headers=AUTH
    )
    assert response.status == 200
    body = await (await client.get(url, headers=AUTH)).json()
    assert body["flag"] is True and body["note"] == note and body["by"] == coach.id
    profile = await (await client.get(f"/api/participants/{pid}/profile", headers=AUTH)).json()
    assert profile["beliefs_flag"] is True and "note" not in str(profile)
    staff = await make_user(services, "staff@example.org", "staff")
    response = await client.put(url, json={"flag": False, "by": staff.id}, headers=AUTH)
    assert response.status == 400
    actions = await audit_actions(services)
    assert "participant.beliefs" in actions and "participant.beliefs.view" in actions
    async with services.sessions() as db:
        details = [e.detail for e in await db.scalars(select(AuditEntry))]
    assert note not in str(details)


async def test_a_carer_has_their_own_consent_and_opt_out(
    client: TestClient[Any, Any], services: Services
) -> None:
    pid = (await create(client))["id"]
    url = f"/api/participants/{pid}/carer"
    assert (await client.get(url, headers=AUTH)).status == 404
    carer = {
        "name": "Sam",
        "relationship": "son",
        "phone": "07912 345678",
        "language": "en",
        "consent": True,
        "participant_asked": True,
    }
    response = await client.put(url, json={**carer, "participant_asked": False}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "participant_not_asked"
    response = await client.put(url, json={**carer, "phone": ALICE["phone"]}, headers=AUTH)
    assert (await response.json())["error"]["code"] == "same_as_participant"
    response = await client.put(url, json=carer, headers=AUTH)
    body = await response.json()
    assert body["receives_reminders"] is True and body["phone"] == "+447912345678"
    profile = await (await client.get(f"/api/participants/{pid}/profile", headers=AUTH)).json()
    assert profile["carer"] == {"reminders": True}
    response = await client.post(f"{url}/opt-out", headers=AUTH)
    assert (await response.json())["receives_reminders"] is False
    assert (await client.post(f"{url}/opt-out", headers=AUTH)).status == 409
    response = await client.put(url, json=carer, headers=AUTH)  # consent given afresh
    assert (await response.json())["receives_reminders"] is True
    assert (await client.delete(url, headers=AUTH)).status == 204
    assert (await client.get(url, headers=AUTH)).status == 404
    async with services.sessions() as db:
        participant = await db.get(Participant, pid)
        assert participant is not None and participant.consent  # untouched by the carer's choices
    actions = await audit_actions(services)
    assert {"carer.add", "carer.opt_out", "carer.update", "carer.remove"} <= set(actions)
