"""Retention: message bodies past their period are purged by the scheduled job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.host.outbox import enqueue
from bot.host.services import FlowLibrary, Services, build_services
from bot.outbox.backlog import BEHIND, Pace
from bot.privacy import retention
from bot.privacy.retention import purge_expired
from bot.store.models import (
    Answer,
    AuditEntry,
    Escalation,
    EscalationNote,
    InboundMessage,
    OutboxMessage,
    Participant,
)
from scheduler import build_scheduler
from tests.conftest import make_settings


async def test_old_bodies_answers_and_escalations_go_and_recent_ones_stay(
    services: Services,
) -> None:
    now = services.clock.now()
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    ancient = now - timedelta(days=9 * 365)
    async with services.sessions() as db, db.begin():
        p = Participant(phone="+447911123456", channel="sms", language="en", status="active",
                        consent=True, fields={}, created_at=ancient, updated_at=now)  # fmt: skip
        db.add(p)
        await db.flush()
        for at, text in ((old, "old words"), (recent, "new words")):
            db.add(InboundMessage(channel="sms", provider_id=text, participant_id=p.id,
                                  sender="+447911123456", text=text, received_at=at))  # fmt: skip
        for at, status in ((old, "sent"), (old, "pending"), (recent, "sent")):
            db.add(OutboxMessage(participant_id=p.id, channel="sms", to="+447911123456",
                                 body=f"{status} body", status=status, kind="flow",
                                 not_before=at, created_at=at))  # fmt: skip
        db.add(Answer(participant_id=p.id, flow_id="sleep_checkin", key="sleep_quality", value=3,
                      at=ancient))  # fmt: skip
        db.add(Answer(participant_id=p.id, flow_id="sleep_checkin", key="sleep_quality", value=5,
                      at=old))  # fmt: skip
        done = Escalation(participant_id=p.id, priority="high", reason="r", source="s",
                          status="resolved", created_at=ancient, updated_at=ancient,
                          resolved_at=ancient)  # fmt: skip
        still_open = Escalation(participant_id=p.id, priority="high", reason="r2", source="s",
                                status="open", created_at=ancient, updated_at=ancient)  # fmt: skip
        db.add_all([done, still_open])
        await db.flush()
        db.add(EscalationNote(escalation_id=done.id, text="note", at=ancient))
    counts = await purge_expired(services)
    assert counts["inbound_bodies"] == 1 and counts["outbound_bodies"] == 1
    assert counts["answers"] == 1 and counts["escalations"] == 1
    async with services.sessions() as db:
        texts = list(await db.scalars(select(InboundMessage.text).order_by(InboundMessage.id)))
        bodies = list(await db.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)))
        values = list(await db.scalars(select(Answer.value)))
        reasons = list(await db.scalars(select(Escalation.reason)))
        audit = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
        )
    assert texts == [None, "new words"]
    assert bodies == [None, "pending body", "sent body"]  # unsent messages are never purged
    assert values == [5] and reasons == ["r2"]
    assert len(audit) == 1 and audit[0].detail["inbound_bodies"] == 1
    assert "old words" not in str(audit[0].detail)
    assert await purge_expired(services) == dict.fromkeys(counts, 0)  # idempotent
    async with services.sessions() as db:
        entries = await db.scalars(select(AuditEntry).where(AuditEntry.action == "retention.purge"))
        assert len(list(entries)) == 1  # a run that purges nothing leaves no entry


async def test_the_periods_come_from_settings(database_url: str, services: Services) -> None:
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add(InboundMessage(channel="sms", provider_id="x", sender="+447911123456", text="t",
                              received_at=now - timedelta(days=40)))  # fmt: skip
    assert (await purge_expired(services))["inbound_bodies"] == 0
    short = build_services(
        make_settings(database_url, message_retention_days=30),
        clock=services.clock,
        flows=FlowLibrary(),
    )
    try:
        assert (await purge_expired(short))["inbound_bodies"] == 1
    finally:
        await short.close()


def test_the_scheduler_runs_the_purge(services: Services) -> None:
    scheduler = build_scheduler(services)
    assert scheduler.get_job("retention") is not None


async def _old_messages(services: Services, person: Participant, names: str) -> None:
    at = services.clock.now() - timedelta(days=400)
    async with services.sessions() as db, db.begin():
        for name in names:
            db.add(InboundMessage(channel="sms", provider_id=f"old-{name}",
                                  participant_id=person.id, sender=person.phone, text="words",
                                  received_at=at))  # fmt: skip


async def _bodies_left(services: Services) -> int:
    async with services.sessions() as db:
        query = select(func.count()).where(InboundMessage.text.is_not(None))
        return int(await db.scalar(query) or 0)


async def test_a_late_reply_holds_the_purge_until_it_is_sent(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 1)  # one row a batch: a wait before each
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        person = Participant(phone="+447911123456", channel="sms", language="en",
                             status="active", consent=True, fields={}, created_at=now,
                             updated_at=now)  # fmt: skip
        db.add(person)
        await db.flush()
        late = enqueue(db, person, "A reply.", now=now - 2 * BEHIND, kind="flow", replying=True)
        assert late is not None
        await db.flush()
        reply = late.id
    await _old_messages(services, person, "abc")
    assert (await purge_expired(services, give_way=Pace(per_tick=0.3)))["inbound_bodies"] == 0
    assert await _bodies_left(services) == 3  # the run's waiting ran out: the next goes on
    # while the reply stays late, a batch after at most the per-batch wait
    counts = await purge_expired(services, give_way=Pace(per_tick=5.0, per_batch=0.1))
    assert counts["inbound_bodies"] == 3
    async with services.sessions() as db, db.begin():
        await db.execute(
            update(OutboxMessage).where(OutboxMessage.id == reply).values(status="sent")
        )
    await _old_messages(services, person, "de")
    assert (await purge_expired(services, give_way=Pace(per_tick=0.3)))["inbound_bodies"] == 2
