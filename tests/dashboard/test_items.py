"""Working an item in the dashboard: claim, reply, note, resolve, resume; hostile input."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.host.services import Services
from bot.outbox.sender import send_due
from bot.store.models import Answer, AuditEntry, EscalationNote, OutboxMessage, Participant, User
from tests.dashboard.helpers import Client, login, post_form
from tests.escalations.helpers import add_staff, item
from tests.host.helpers import escalations, make_participant, refreshed, say


async def _crisis(
    services: Services, coach: User, text: str = "I can't go on", **kw: object
) -> tuple[Participant, int]:
    person = await make_participant(services, coach=coach.id, **kw)
    await say(services, person, text)
    (opened,) = await escalations(services, person.id)
    return person, opened.id


async def test_claim_reply_note_resolve_resume(
    client: Client, services: Services, clock: FixedClock
) -> None:
    coach = await add_staff(services, "coach", "coach@example.org", name="Sam")
    person, item_id = await _crisis(services, coach, name="Ayesha")
    token = await login(client, "coach@example.org")

    page = await client.get(f"/items/{item_id}")
    html = await page.text()
    assert page.status == 200
    assert "I can&#39;t go on" in html and "caused this item" in html  # the cause, escaped
    assert 'id="claim"' in html and 'id="resume"' in html

    claimed = await post_form(client, f"/items/{item_id}/claim", token)
    assert claimed.status == 200 and "You have claimed this item." in await claimed.text()
    assert (await item(services, item_id)).status == "claimed"

    clock.advance(timedelta(minutes=2))
    replied = await post_form(client, f"/items/{item_id}/reply", token, reply="Hello, it's Sam.")
    replied_html = await replied.text()
    assert "Reply queued" in replied_html
    assert "Coach: Sam" in replied_html and "Hello, it&#39;s Sam." in replied_html
    async with services.sessions() as db:
        row = await db.scalar(select(OutboxMessage).where(OutboxMessage.kind == "coach"))
    assert row is not None and (row.participant_id, row.user_id, row.channel) == (
        person.id, coach.id, "sms",
    )  # fmt: skip

    noted = await post_form(client, f"/items/{item_id}/note", token, note="Called; no answer.")
    assert "Called; no answer." in await noted.text()

    resumed = await post_form(client, f"/items/{item_id}/resume", token)
    assert "Check-ins resumed." in await resumed.text()
    assert (await refreshed(services, person)).status == "active"

    resolved = await post_form(
        client, f"/items/{item_id}/resolve", token, outcome="contacted", resolve_note="Safe."
    )
    assert "Item resolved." in await resolved.text()
    done = await item(services, item_id)
    assert (done.status, done.outcome, done.assignee_id) == ("resolved", "contacted", coach.id)
    async with services.sessions() as db:
        actions = [
            (a.actor, a.action)
            for a in await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor == f"user:{coach.id}")
                .order_by(AuditEntry.id)
            )
        ]
    assert [a for _actor, a in actions if a != "participant.view"] == [
        "login", "escalation.claim", "coach.reply", "escalation.note", "participant.resume",
        "escalation.resolve",
    ]  # fmt: skip
    assert (f"user:{coach.id}", "participant.view") in actions


async def test_the_reply_is_sent_on_the_participants_channel(
    client: Client, services: Services
) -> None:
    from tests.escalations.helpers import RecordingChannel

    sms = RecordingChannel("sms")
    services.channels["sms"] = sms
    coach = await add_staff(services, "coach", "sender@example.org")
    person, item_id = await _crisis(services, coach)
    token = await login(client, "sender@example.org")
    await post_form(client, f"/items/{item_id}/reply", token, reply="Are you safe right now?")
    while await send_due(services):
        pass
    assert [m.body for m in sms.sent][-1] == "Are you safe right now?"
    assert sms.sent[-1].to == person.phone


async def test_hostile_text_is_escaped_never_executed(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "escape@example.org")
    _person, item_id = await _crisis(
        services, coach, text='<script>alert("in")</script> I want to end my life'
    )
    token = await login(client, "escape@example.org")
    await post_form(client, f"/items/{item_id}/note", token, note="<img src=x onerror=alert(1)>")
    html = await (await client.get(f"/items/{item_id}")).text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;in&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"note": ""}, "note is required"),
        ({}, "note is required"),
        ({"note": "x" * 200_000}, "note is too long"),
        ({"note": "safe \u202eevil\u202c"}, "direction-override"),
    ],
)
async def test_bad_notes_are_refused_and_nothing_is_stored(
    client: Client, services: Services, fields: dict[str, str], message: str
) -> None:
    coach = await add_staff(services, "coach", "bad@example.org")
    _person, item_id = await _crisis(services, coach)
    token = await login(client, "bad@example.org")
    response = await post_form(client, f"/items/{item_id}/note", token, **fields)
    assert response.status == 400
    assert message in await response.text()
    async with services.sessions() as db:
        assert list(await db.scalars(select(EscalationNote))) == []


async def test_a_megabyte_note_is_refused_before_it_is_read(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "huge@example.org")
    _person, item_id = await _crisis(services, coach)
    token = await login(client, "huge@example.org")
    response = await post_form(client, f"/items/{item_id}/note", token, note="x" * 1_048_576)
    assert response.status == 413
    async with services.sessions() as db:
        assert list(await db.scalars(select(EscalationNote))) == []


async def test_resolving_without_an_outcome_keeps_what_was_typed(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "keep@example.org")
    _person, item_id = await _crisis(services, coach)
    token = await login(client, "keep@example.org")
    response = await post_form(
        client, f"/items/{item_id}/resolve", token, outcome="", resolve_note="Spoke at length"
    )
    html = await response.text()
    assert response.status == 400 and "outcome must be one of" in html
    assert ">Spoke at length</textarea>" in html
    assert (await item(services, item_id)).status == "open"


async def test_forms_without_the_csrf_token_change_nothing(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "csrf2@example.org")
    _person, item_id = await _crisis(services, coach)
    await login(client, "csrf2@example.org")
    for token in ("", "forged"):
        response = await client.post(f"/items/{item_id}/claim", data={"csrf_token": token})
        assert response.status == 403
    response = await client.post(f"/items/{item_id}/claim", data={})
    assert response.status == 403
    assert (await item(services, item_id)).status == "open"


async def test_urdu_renders_right_to_left_and_answers_are_charted(
    client: Client, services: Services, clock: FixedClock
) -> None:
    coach = await add_staff(services, "coach", "rtl@example.org")
    person, item_id = await _crisis(
        services, coach, text="میں خود کو مارنا چاہتا ہوں", language="ur", name="عائشہ"
    )
    async with services.sessions() as db, db.begin():
        for days, value in ((20, 7), (13, 5), (6, 3)):
            db.add(
                Answer(
                    participant_id=person.id, flow_id="sleep_checkin", key="sleep_quality",
                    value=value, at=clock.now() - timedelta(days=days),
                )
            )  # fmt: skip
        db.add(
            Answer(
                participant_id=person.id, flow_id="goal_review", key="goal_attainment",
                value=-1, at=clock.now() - timedelta(days=1),
            )
        )  # fmt: skip
    await login(client, "rtl@example.org")
    html = await (await client.get(f"/items/{item_id}")).text()
    assert '<p class="msg" dir="auto" lang="ur">میں خود کو مارنا چاہتا ہوں</p>' in html
    assert "<bdi>عائشہ</bdi>" in html
    assert html.count("<svg") == 4
    assert "Sleep quality (0-10): 3 answers in the last 8 weeks, from 3 to 7; latest 3" in html
    assert "Goal attainment (-2 to +2): 1 answers" in html
    assert "Pain during activity (0-10): no answers" in html


async def test_an_unknown_senders_crisis_is_shown_with_the_number_and_no_reply_box(
    client: Client, services: Services
) -> None:
    from bot.channels.base import InboundMessage
    from bot.host.inbound import process

    await add_staff(services, "lead", "lead2@example.org")
    await process(
        services,
        InboundMessage("sms", "SMunknown1", "+447911999888", "I want to die", services.clock.now()),
    )
    (opened,) = await escalations(services)
    assert opened.participant_id is None
    await login(client, "lead2@example.org")
    html = await (await client.get(f"/items/{opened.id}")).text()
    assert "+447911999888" in html and 'id="reply"' not in html


async def test_a_coachs_action_waits_its_turn_at_the_write_lock(
    client: Client, services: Services
) -> None:
    """Under load the webhooks' batches hold SQLite's write lock back to back; a claim
    outside the turns waited in SQLite's busy handler (sleeps of up to 100 ms) instead."""
    coach = await add_staff(services, "coach", "coach@example.org", name="Sam")
    _, item_id = await _crisis(services, coach)
    token = await login(client, "coach@example.org")
    async with services.write_turn():  # as the intake holds it for a batch
        claim = asyncio.create_task(post_form(client, f"/items/{item_id}/claim", token))
        await asyncio.sleep(0.3)  # long enough for it to finish if nothing held it
        if services.engine.dialect.name == "sqlite":  # PostgreSQL holds nothing here
            assert not claim.done()
    claimed = await asyncio.wait_for(claim, 10)
    assert claimed.status == 200 and "You have claimed this item." in await claimed.text()
