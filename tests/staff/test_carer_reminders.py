"""A carer is copied on module reminders (when and where only) and can stop them by text."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.base import InboundMessage
from bot.clock import FixedClock
from bot.host.inbound import process
from bot.host.services import Services
from bot.staff.carer_messages import CARER_REMINDER
from bot.staff.carers import carer_of, set_carer
from bot.store.models import InboundMessage as InboundRow
from bot.store.models import OutboxMessage, Participant
from bot.store.models.staff import CarerContact
from scheduler.due import run_due
from scheduler.modules import MODULES, book, create_session
from tests.host.helpers import make_participant, outbox, refreshed, say

CARER_PHONE = "+447400123456"
STARTS = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # Wednesday; London is on GMT
DAY_BEFORE = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
TWO_HOURS = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
VENUE = "Bradford Community Centre, Room 2"
_sids = itertools.count(1)


async def _person_with_carer(
    services: Services, participant_language: str = "en", **carer: Any
) -> Participant:
    person = await make_participant(services, name="Amina", language=participant_language)
    data = {
        "name": "Bilal",
        "relationship": "son",
        "phone": CARER_PHONE,
        "language": "en",
        "consent": True,
        "participant_asked": True,
        **carer,
    }
    data = {k: v for k, v in data.items() if v is not None}  # None: the field is not given
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        await set_carer(db, fresh, data, services.clock.now(), "test")
    return person


async def _book(services: Services, person: Participant) -> None:
    async with services.sessions() as db, db.begin():
        session = await create_session(
            db,
            {"module": "sleep_therapy", "starts_at": STARTS.isoformat(), "venue": VENUE,
             "language": "en"},
            services.clock.now(),
        )  # fmt: skip
        await book(db, session, person.id, services.clock.now())


async def _carer_rows(services: Services) -> list[OutboxMessage]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.participant_id.is_(None), OutboxMessage.user_id.is_(None))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def _carer(services: Services, person: Participant) -> CarerContact:
    async with services.sessions() as db:
        carer = await carer_of(db, person.id)
        assert carer is not None
        return carer


async def _fire(services: Services, clock: FixedClock, at: datetime) -> None:
    clock.set(at)
    await run_due(services)


async def _text(services: Services, sender: str, text: str) -> str | None:
    message = InboundMessage("sms", f"SM{next(_sids):032x}", sender, text, services.clock.now())
    received = await process(services, message)
    async with services.sessions() as db:
        row = await db.get(InboundRow, received.inbound_id)
        return row.outcome if row is not None else None


async def test_a_consenting_carer_gets_when_and_where_and_nothing_else(
    services: Services, clock: FixedClock
) -> None:
    person = await _person_with_carer(services)
    await _book(services, person)
    await _fire(services, clock, DAY_BEFORE)
    (copy,) = await _carer_rows(services)
    assert (copy.to, copy.channel, copy.kind, copy.status) == (
        CARER_PHONE, "sms", "scheduled", "pending",
    )  # fmt: skip
    assert copy.body == CARER_REMINDER.format(
        session_date="Wednesday 4 March", session_time="14:00", venue=VENUE
    )
    body = (copy.body or "").lower()
    for private in ("sleep", MODULES["sleep_therapy"].lower(), "amina", "therapy", "pain"):
        assert private not in body
    # the participant's own reminder is unchanged and still names the module
    own = [m.body or "" for m in await outbox(services, person)]
    assert any(MODULES["sleep_therapy"] in text for text in own)
    await say(services, person, "yes")  # the participant answers, so the next one can start
    await _fire(services, clock, TWO_HOURS)
    assert len(await _carer_rows(services)) == 2  # one copy per reminder


async def test_the_date_is_in_the_carers_language(services: Services, clock: FixedClock) -> None:
    person = await _person_with_carer(services, language="pl")
    await _book(services, person)
    await _fire(services, clock, DAY_BEFORE)
    (copy,) = await _carer_rows(services)
    assert "środa 4 marca" in (copy.body or "") and "14:00" in (copy.body or "")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "ur",
            "یاد دہانی: جس سیشن کی اطلاع آپ نے مانگی تھی، وہ ⁨بدھ 4 مارچ⁩ کو ⁨14:00⁩ بجے "
            f"⁨{VENUE}⁩ میں ہے۔ روکنے کے لیے ⁦STOP⁩ لکھیں۔",
        ),
        (
            "pl",
            "Zgodnie z prośbą przypominamy: zajęcia środa 4 marca, godz. 14:00, "
            f"miejsce: {VENUE}. Odpisz STOP, aby je zatrzymać.",
        ),
    ],
)
async def test_the_whole_reminder_is_in_the_carers_language(
    services: Services, clock: FixedClock, language: str, expected: str
) -> None:
    """The carer's own language, even when the participant's differs (here English)."""
    person = await _person_with_carer(services, language=language)
    await _book(services, person)
    await _fire(services, clock, DAY_BEFORE)
    (copy,) = await _carer_rows(services)
    assert copy.body == expected
    for private in ("sleep", "amina", "pain", "sen", "ból"):  # no condition, module or name
        assert private not in (copy.body or "").lower()


async def test_a_carer_without_a_language_gets_the_participants(
    services: Services, clock: FixedClock
) -> None:
    person = await _person_with_carer(services, participant_language="pl", language=None)
    assert (await _carer(services, person)).language == "pl"
    await _book(services, person)
    await _fire(services, clock, DAY_BEFORE)
    (copy,) = await _carer_rows(services)
    assert (copy.body or "").startswith("Zgodnie z prośbą przypominamy: zajęcia środa 4 marca")


async def test_no_copy_without_the_carers_consent(services: Services, clock: FixedClock) -> None:
    no_consent = await _person_with_carer(services, consent=False)
    await _book(services, no_consent)
    await _fire(services, clock, DAY_BEFORE)
    assert await _carer_rows(services) == []
    assert len(await outbox(services, no_consent)) > 0  # the participant was reminded


async def test_a_stopped_participant_means_no_copy_to_the_carer(
    services: Services, clock: FixedClock
) -> None:
    person = await _person_with_carer(services)
    await _book(services, person)
    assert await _text(services, person.phone or "", "STOP") is not None
    assert (await refreshed(services, person)).status == "opted_out"
    await _fire(services, clock, DAY_BEFORE)
    assert await _carer_rows(services) == []


async def test_stop_from_the_carers_number_opts_out_the_carer_only(
    services: Services, clock: FixedClock
) -> None:
    person = await _person_with_carer(services)
    await _book(services, person)
    sent_before = len(await outbox(services, person))
    assert await _text(services, CARER_PHONE, "stop") == "carer_opt_out"
    carer = await _carer(services, person)
    assert carer.opted_out_at == clock.now() and carer.consent is False
    fresh = await refreshed(services, person)
    assert fresh.status == "active" and fresh.consent is True
    assert len(await outbox(services, person)) == sent_before  # nothing sent to the participant
    await _fire(services, clock, DAY_BEFORE)
    assert await _carer_rows(services) == []
    assert len(await outbox(services, person)) > sent_before  # the participant still reminded


async def test_the_participants_own_stop_leaves_the_carer_contact_alone(
    services: Services,
) -> None:
    person = await _person_with_carer(services)
    assert await _text(services, person.phone or "", "STOP") != "carer_opt_out"
    carer = await _carer(services, person)
    assert carer.opted_out_at is None and carer.consent is True


async def test_other_texts_from_a_carer_and_stop_from_strangers_change_nothing(
    services: Services,
) -> None:
    person = await _person_with_carer(services)
    assert await _text(services, CARER_PHONE, "stop the reminders on friday") == "unknown_sender"
    assert await _text(services, "+447400123999", "STOP") == "unknown_sender"
    carer = await _carer(services, person)
    assert carer.opted_out_at is None and carer.consent is True
