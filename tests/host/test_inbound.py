"""The host: one inbound message as the design draws it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.services import Services
from bot.host.sweeps import fire_timeouts
from bot.store.models import FlowSession, InboundMessage, OutboxMessage, Participant
from tests.host.helpers import (
    answers,
    bodies,
    escalations,
    make_participant,
    outbox,
    refreshed,
    say,
)


async def _start(services: Services, participant: Participant, flow: str = "sleep_checkin") -> None:
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None
        assert await start_flow(services, db, fresh, flow) is not None


async def test_a_whole_check_in_is_saved_and_answered(services: Services) -> None:
    person = await make_participant(services, name="Amina Khan")
    await _start(services, person)
    assert (await bodies(services, person))[0].startswith("Hi Amina,")
    for reply in ["about ۷ out of 10", "no", "7.5"]:
        await say(services, person, reply)
    assert await answers(services, person) == {
        "sleep_quality": 7,
        "pain_woke": "no",
        "hours_slept": 7.5,
    }
    assert (await bodies(services, person))[-1] == "Thank you. Your coach will see your answers."


async def test_the_same_provider_message_twice_is_processed_once(services: Services) -> None:
    person = await make_participant(services)
    await _start(services, person)
    first = await say(services, person, "8", provider_id="SMdup")
    second = await say(services, person, "8", provider_id="SMdup")
    assert not first.duplicate and second.duplicate
    async with services.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(InboundMessage)) == 1
    assert len(await bodies(services, person)) == 3  # hello, q1, then q2 once: nothing twice
    assert await answers(services, person) == {"sleep_quality": 8}


async def test_two_messages_at_once_are_handled_in_arrival_order(services: Services) -> None:
    """Arrival is the order they were stored in. Posted at the same instant, either may
    be stored first (each looks its sender up before it inserts), so the test reads
    which one was, and checks that it was handled first."""
    person = await make_participant(services)
    await _start(services, person)
    await asyncio.gather(
        say(services, person, "3", provider_id="SMa"),
        say(services, person, "yes", provider_id="SMb"),
    )
    async with services.sessions() as db:
        stored = list(
            await db.scalars(
                select(InboundMessage.provider_id)
                .where(InboundMessage.participant_id == person.id)
                .order_by(InboundMessage.id)
            )
        )
    if stored == ["SMa", "SMb"]:
        assert await answers(services, person) == {"sleep_quality": 3, "pain_woke": "yes"}
    else:  # "yes" came first: not a number, so asked again; then 3 answered it
        assert stored == ["SMb", "SMa"]
        assert await answers(services, person) == {"sleep_quality": 3}


@pytest.mark.parametrize(
    "garbage", ["", "   ", "\x00\x01\u202e", "🙂" * 5000, "x" * 100_000, "٣٣٣ ۴۴ 5"]
)
async def test_any_text_gets_a_reprompt_or_the_unclear_path_never_an_error(
    services: Services, garbage: str
) -> None:
    person = await make_participant(services)
    await _start(services, person)
    await say(services, person, garbage)
    await say(services, person, garbage)
    async with services.sessions() as db:
        rows = list(await db.scalars(select(InboundMessage)))
    assert all(r.processed_at is not None for r in rows)


async def test_unreadable_twice_leaves_a_note_for_the_coach_instead_of_nagging(
    services: Services,
) -> None:
    person = await make_participant(services)
    await _start(services, person)
    await say(services, person, "not sure really")
    await say(services, person, "dunno")
    sent = await bodies(services, person)
    assert sent[-1] == "Thank you. Your coach will read your reply."
    assert [e.reason for e in await escalations(services, person.id)] == [
        "Could not understand replies"
    ]


async def test_stop_opts_out_and_nothing_else_is_sent_until_start(services: Services) -> None:
    person = await make_participant(services, language="pl")
    await _start(services, person)
    await say(services, person, "STOP")
    assert (await refreshed(services, person)).status == "opted_out"
    count = len(await outbox(services, person))
    await say(services, person, "5")
    assert len(await outbox(services, person)) == count  # nothing after the confirmation
    await say(services, person, "start")
    assert (await refreshed(services, person)).status == "active"


@pytest.mark.parametrize("word", ["stop", "Stop.", "UNSUBSCRIBE", "koniec", "بند کرو", "ਬੰਦ"])
async def test_stop_words_in_several_languages(services: Services, word: str) -> None:
    person = await make_participant(services)
    await say(services, person, word)
    assert (await refreshed(services, person)).status == "opted_out"


async def test_stop_inside_a_sentence_is_not_an_opt_out(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "should I stop the tablets")
    assert (await refreshed(services, person)).status == "active"


async def test_a_crisis_message_mid_flow_is_answered_at_once_and_escalated(
    services: Services,
) -> None:
    person = await make_participant(services, language="ur")
    await _start(services, person)
    await say(services, person, "I want to end my life")
    rows = await outbox(services, person)
    crisis = [r for r in rows if r.kind == "crisis"]
    assert len(crisis) == 1 and "999" in (crisis[0].body or "")
    urgent = await escalations(services, person.id)
    assert [e.priority for e in urgent] == ["urgent"]
    async with services.sessions() as db:
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == person.id)
        )
        assert session is not None and session.outcome == "safety"
    assert (await refreshed(services, person)).status == "paused"


async def test_an_opted_out_participant_in_crisis_still_gets_the_crisis_reply(
    services: Services,
) -> None:
    person = await make_participant(services)
    await say(services, person, "stop")
    await say(services, person, "i want to kill myself")
    assert [r.kind for r in await outbox(services, person)] == ["optout", "crisis"]


async def test_a_repeated_crisis_adds_to_the_open_item(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "I want to die")
    await say(services, person, "I want to die")
    items = await escalations(services, person.id)
    assert len(items) == 1 and items[0].occurrences == 2


async def test_a_voice_note_becomes_a_needs_a_person_item(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, None, media_count=1)
    assert [e.reason for e in await escalations(services, person.id)] == [
        "Sent a voice note, picture or file: needs a person"
    ]


async def test_an_unknown_sender_is_stored_and_screened(services: Services) -> None:
    stranger = Participant(id=0, phone="+447700900123", channel="sms", language="en")
    await say(services, stranger, "i want to kill myself")
    items = await escalations(services)
    assert [(e.participant_id, e.priority) for e in items] == [(None, "urgent")]


async def test_a_question_times_out_along_its_timeout_path(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await _start(services, person)
    clock.advance(timedelta(hours=5))
    assert await fire_timeouts(services) == 1
    async with services.sessions() as db:
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == person.id)
        )
        assert session is not None and session.outcome == "missed"
    assert await fire_timeouts(services) == 0  # idempotent: fires once


async def test_a_message_outside_any_flow_gets_a_gentle_reply(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "hello")
    assert "Reply COACH" in (await bodies(services, person))[-1]


async def test_coach_keyword_creates_a_routine_item(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "please call me")
    items = await escalations(services, person.id)
    assert items and items[0].priority == "routine"


async def test_no_consent_means_nothing_is_queued(services: Services) -> None:
    person = await make_participant(services, consent=False)
    await _start(services, person)
    assert await outbox(services, person) == []


async def test_outbox_rows_are_written_in_the_same_transaction_as_answers(
    services: Services,
) -> None:
    person = await make_participant(services)
    await _start(services, person)
    await say(services, person, "6")
    async with services.sessions() as db:
        pending = await db.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
    assert pending == 3


@pytest.mark.parametrize("word", ["বন্ধু", "ਸੈਰ", "stopped"])
async def test_words_that_merely_look_like_stop_do_not_opt_out(
    services: Services, word: str
) -> None:
    person = await make_participant(services, language="bn")
    await say(services, person, word)
    assert (await refreshed(services, person)).status == "active"


async def test_a_language_answer_switches_the_language_at_once(services: Services) -> None:
    person = await make_participant(services)
    await _start(services, person, "onboarding")
    async with services.sessions() as db, db.begin():
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == person.id)
        )
        assert session is not None and session.step == "language"
    await say(services, person, "2")  # the second language offered: Urdu
    assert (await refreshed(services, person)).language == "ur"
