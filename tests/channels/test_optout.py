"""STOP, START and HELP through the real webhooks, in several languages and channels."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.host import replies
from bot.store.models import Answer, AuditEntry, FlowSession
from tests.channels.conftest import Stack, new_sid
from tests.fakes.telegram import text_update

AUTH = {"Authorization": "Bearer test-token"}
WORDS = [
    # language, stop, start, help
    ("en", "STOP", "Start", "help"),
    ("ur", "بند کرو", "شروع", "مدد"),
    ("pl", "Koniec", "start", "pomoc"),
    ("ar", "توقف", "ابدأ", "مساعدة"),
    ("bn", "বন্ধ", "শুরু", "সাহায্য"),
    ("pa_Guru", "ਬੰਦ", "ਸ਼ੁਰੂ", "ਮਦਦ"),
    ("ro", "stop", "porneste", "ajutor"),
]


async def _start(stack: Stack, participant_id: int, flow: str = "mood_check") -> int:
    response = await stack.client.post(
        f"/api/participants/{participant_id}/flows", json={"flow": flow}, headers=AUTH
    )
    return response.status


@pytest.mark.parametrize(("language", "stop", "start", "help_word"), WORDS)
async def test_stop_start_and_help_by_sms_in_the_participants_language(
    stack: Stack, language: str, stop: str, start: str, help_word: str
) -> None:
    catalogs = stack.services.catalogs
    person = await stack.participant(language=language)
    assert await _start(stack, person.id) == 202
    await stack.flush()
    before = len(stack.twilio.requests)

    await stack.sms(person.phone or "", stop)
    await stack.flush()
    assert (await stack.refreshed(person)).status == "opted_out"
    assert stack.twilio.bodies[before:] == [replies.reply(catalogs, language, replies.OPTED_OUT)]
    async with stack.services.sessions() as db:
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == person.id)
        )
        assert session is not None and session.outcome == "opted_out"

    # Nothing else is ever sent: not a staff start, not a reply to their texts.
    assert await _start(stack, person.id) == 409
    await stack.sms(person.phone or "", "good")
    await stack.sms(person.phone or "", help_word)
    await stack.flush()
    assert len(stack.twilio.requests) == before + 1

    await stack.sms(person.phone or "", start)
    await stack.sms(person.phone or "", help_word)
    await stack.flush()
    assert (await stack.refreshed(person)).status == "active"
    assert stack.twilio.bodies[before + 1 :] == [
        replies.reply(catalogs, language, replies.OPTED_IN),
        replies.reply(catalogs, language, replies.HELP),
    ]


async def test_stop_wins_over_an_answer_the_flow_is_waiting_for(stack: Stack) -> None:
    person = await stack.participant()
    await _start(stack, person.id)
    await stack.sms(person.phone or "", "stop")
    async with stack.services.sessions() as db:
        saved = list(await db.scalars(select(Answer).where(Answer.participant_id == person.id)))
    assert saved == [] and (await stack.refreshed(person)).status == "opted_out"


async def test_stop_by_whatsapp_and_by_telegram(stack: Stack) -> None:
    on_whatsapp = await stack.participant(channel="whatsapp", language="sk")
    await stack.whatsapp(on_whatsapp.phone or "", "koniec")
    assert (await stack.refreshed(on_whatsapp)).status == "opted_out"

    on_telegram = await stack.participant(channel="telegram", language="pl")
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(type(on_telegram), on_telegram.id)
        assert fresh is not None
        fresh.telegram_chat_id = "555001"
    assert (await stack.telegram_post(text_update(9001, 555001, "/stop"))).status == 200
    assert (await stack.refreshed(on_telegram)).status == "opted_out"
    await stack.flush()
    assert stack.telegram.texts(555001) == [
        replies.reply(stack.services.catalogs, "pl", replies.OPTED_OUT)
    ]


async def test_twilio_21610_on_send_opts_the_participant_out_and_is_not_retried(
    stack: Stack,
) -> None:
    person = await stack.participant()
    stack.twilio.by_recipient[person.phone or ""] = "21610"
    await _start(stack, person.id)
    await stack.flush()
    await stack.flush()
    assert len(stack.twilio.requests) == 1
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("failed", "21610")
    assert (await stack.refreshed(person)).status == "opted_out"
    assert await stack.escalations(person.id) == []  # their choice, not a problem for staff
    async with stack.services.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert "participant.opt_out" in actions


async def test_twilio_21610_in_a_status_callback_opts_the_participant_out(stack: Stack) -> None:
    person = await stack.participant()
    await _start(stack, person.id)
    await stack.flush()
    [row] = await stack.outbox(person.id)
    response = await stack.status(row.provider_id or "", "failed", outbox_id=row.id, error="21610")
    assert response.status == 200
    assert (await stack.refreshed(person)).status == "opted_out"
    sid = new_sid()
    assert (
        await stack.status(sid, "failed", error="21610")
    ).status == 200  # unknown id: kept, no crash
