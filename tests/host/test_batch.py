"""Webhooks processed together in one transaction do exactly what one-by-one does.

Two identical groups of participants get the same messages: one group through the
intake, all at once so they fall in one batch, the other one message at a time
through ``process``. What each participant ends up with (replies, answers,
escalations, outcomes, status) must be the same.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy import text as sql_text

from bot.channels.base import InboundMessage
from bot.config import load_settings
from bot.errors import ConfigError
from bot.host.batch import seen_query
from bot.host.flows import start_flow
from bot.host.inbound import Received, process
from bot.host.intake import Intake
from bot.host.services import Services, build_services
from bot.staff.users import add_user
from bot.store.db import make_engine
from bot.store.models import Answer, Escalation, FlowSession, OutboxMessage, Participant
from bot.store.models import InboundMessage as InboundRow
from bot.telemetry import REGISTRY
from bot.web.webhooks.common import accept
from tests.conftest import START, make_settings
from tests.host.helpers import make_participant

_sids = itertools.count(1)
Setup = Callable[[Services, Participant], Awaitable[None]]


async def _flow(services: Services, participant: Participant, flow: str) -> None:
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None and await start_flow(services, db, fresh, flow) is not None


async def in_sleep_checkin(services: Services, participant: Participant) -> None:
    await _flow(services, participant, "sleep_checkin")


async def with_history(services: Services, participant: Participant) -> None:
    """Two whole check-ins already answered, a third one waiting: trends have data."""
    for quality in ("8", "3"):
        await in_sleep_checkin(services, participant)
        for reply in (quality, "yes", "6"):
            await process(services, _message(participant, reply))
    await in_sleep_checkin(services, participant)


async def nothing(services: Services, participant: Participant) -> None:
    return None


@dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    texts: tuple[str | None, ...]
    media: int = 0
    coach: bool = False
    language: str = "en"


CASES = (
    Case("answers", in_sleep_checkin, ("7",)),
    Case("urdu digits", in_sleep_checkin, ("۷",), language="ur"),
    Case("unclear", in_sleep_checkin, ("banana",)),
    Case("crisis mid flow", in_sleep_checkin, ("I want to end my life",)),
    Case("concern mid flow", in_sleep_checkin, ("I feel so alone these days",)),
    Case("stop", in_sleep_checkin, ("STOP",)),
    Case("two at once", in_sleep_checkin, ("7", "no")),
    Case("outside any flow", nothing, ("hello",)),
    Case("voice note", nothing, (None,), media=1),
    Case("coach keyword", nothing, ("I want to talk to my coach",)),
    Case("trend", with_history, ("2",), coach=True),
    Case("onboarding with a coach", nothing, ("hi",), coach=True),
)


def _message(participant: Participant, text: str | None, media: int = 0) -> InboundMessage:
    from datetime import UTC, datetime

    return InboundMessage(
        channel="sms",
        provider_id=f"SMbatch{next(_sids):026d}",
        sender=participant.phone or "",
        text=text,
        received_at=datetime.now(UTC),
        media_count=media,
    )


async def _group(services: Services, coach_id: int) -> list[Participant]:
    people = []
    for case in CASES:
        person = await make_participant(services, language=case.language)
        if case.coach:
            async with services.sessions() as db, db.begin():
                await db.execute(
                    update(Participant).where(Participant.id == person.id).values(coach_id=coach_id)
                )
        await case.setup(services, person)
        people.append(person)
    return people


async def _record(services: Services, participant_id: int) -> dict[str, Any]:
    async with services.sessions() as db:

        def where(model: Any) -> Any:
            return model.participant_id == participant_id

        out = await db.scalars(select(OutboxMessage).where(where(OutboxMessage)).order_by("id"))
        answers = await db.scalars(select(Answer).where(where(Answer)).order_by("id"))
        items = await db.scalars(select(Escalation).where(where(Escalation)).order_by("id"))
        inbound = list(await db.scalars(select(InboundRow).where(where(InboundRow)).order_by("id")))
        sessions = await db.scalars(select(FlowSession).where(where(FlowSession)).order_by("id"))
        person = await db.get(Participant, participant_id)
        assert person is not None
        return {
            "sent": [(m.kind, m.body) for m in out],
            "answers": [(a.key, a.value) for a in answers],
            "items": [(e.priority, e.reason, e.occurrences) for e in items],
            "inbound": [(m.outcome, m.processed_at is not None) for m in inbound],
            "sessions": [(s.flow_id, s.status, s.step, s.outcome) for s in sessions],
            "status": person.status,
            "last_inbound_at": person.last_inbound_at == max(m.received_at for m in inbound),
        }


@pytest.mark.parametrize("lanes", [1, 2])
async def test_a_batch_does_what_one_by_one_does(services: Services, lanes: int) -> None:
    async with services.sessions() as db, db.begin():
        coach = await add_user(
            db, "coach@example.org", "coach", "a-long-password", services.clock.now(), "Sam Lee"
        )
    batched, single = await _group(services, coach.id), await _group(services, coach.id)
    services.intake = intake = Intake(services, size=64, lanes=lanes)

    messages = [
        (person, _message(person, text, case.media))
        for case, person in zip(CASES, batched, strict=True)
        for text in case.texts
    ]
    results = await asyncio.gather(*(accept(services, m) for _, m in messages))
    assert all(not r.duplicate and r.inbound_id for r in results)
    assert not intake.busy

    for case, person in zip(CASES, single, strict=True):
        for text in case.texts:
            await process(services, _message(person, text, case.media))

    for case, one, other in zip(CASES, batched, single, strict=True):
        assert await _record(services, one.id) == await _record(services, other.id), case.name


async def test_many_participants_fall_in_few_transactions(services: Services) -> None:
    people = [await make_participant(services) for _ in range(20)]
    for person in people:
        await in_sleep_checkin(services, person)
    services.intake = Intake(services, size=64)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    def batches() -> tuple[float, float]:
        """(batches, messages) so far, from the intake's own histogram in /metrics."""
        name = "checkins_inbound_batch_size"
        got = [REGISTRY.get_sample_value(f"{name}_{part}") for part in ("count", "sum")]
        return got[0] or 0.0, got[1] or 0.0

    before = batches()
    event.listen(services.engine.sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(accept(services, _message(p, "7")) for p in people))
    finally:
        event.remove(services.engine.sync_engine, "before_cursor_execute", count)
    taken, messages = (now - then for now, then in zip(batches(), before, strict=True))
    assert messages == 20 and taken <= 2  # the first alone, the rest together
    # One by one, a turn is a dozen statements; batched, the whole lot is a few dozen.
    # A batch: its participants; what is stored already, with blocks of ids for the
    # messages and new sessions; sessions; histories; the messages with their outcomes and
    # when each participant last wrote (SQLite: BEGIN IMMEDIATE first, the messages stored
    # before the turns, then two UPDATEs); the sessions' changes; answers; replies.
    per_batch = 11 if services.engine.dialect.name == "sqlite" else 8
    assert len(statements) == per_batch * taken, "\n".join(s[:90] for s in statements)
    async with services.sessions() as db:
        answered = await db.scalar(select(func.count()).select_from(Answer))
    assert answered == 20


async def test_escalations_commit_with_their_batch(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """A crisis and a concern among ordinary answers: the batch commits as one (on
    PostgreSQL its messages are written after the escalations that refer to them, the
    reference checked at commit), and each escalation names its own message."""
    people = [await make_participant(services) for _ in range(8)]
    for person in people:
        await in_sleep_checkin(services, person)
    texts = ["7"] * 8
    texts[2], texts[5] = "I want to end my life", "I feel so alone these days"
    services.intake = Intake(services, size=64)
    messages = [_message(p, t) for p, t in zip(people, texts, strict=True)]
    with caplog.at_level("WARNING", logger="bot.host.intake"):
        results = await asyncio.gather(*(accept(services, m) for m in messages))
    assert "inbound batch rolled back" not in caplog.text
    async with services.sessions() as db:
        raised = {
            e.participant_id: e.inbound_id
            for e in await db.scalars(select(Escalation).order_by(Escalation.id))
        }
    assert raised == {people[i].id: results[i].inbound_id for i in (2, 5)}, (
        "each escalation refers to its own stored message"
    )


async def test_duplicates_and_strangers_in_a_batch(services: Services) -> None:
    person = await make_participant(services)
    await in_sleep_checkin(services, person)
    services.intake = Intake(services, size=64)
    first = _message(person, "7")
    again = InboundMessage(**{**first.__dict__})
    stranger = InboundMessage(
        channel="sms",
        provider_id="SMstranger",
        sender="+447700900999",
        text="i want to kill myself",
        received_at=first.received_at,
    )
    results: list[Received] = await asyncio.gather(
        accept(services, first), accept(services, again), accept(services, stranger)
    )
    assert sorted(r.duplicate for r in results) == [False, False, True]
    async with services.sessions() as db:
        stored = await db.scalar(select(func.count()).select_from(InboundRow))
        urgent = await db.scalars(select(Escalation.participant_id))
        assert stored == 2 and list(urgent) == [None]  # the stranger was screened
    async with services.sessions() as db:
        answers = list(await db.scalars(select(Answer.value)))
    assert answers == [7]


async def test_a_failing_batch_goes_one_by_one_and_loses_nothing(services: Services) -> None:
    people = [await make_participant(services) for _ in range(3)]
    for person in people:
        await in_sleep_checkin(services, person)
    services.intake = Intake(services, size=64)
    # A participant whose flow is gone makes no error; a broken session state does.
    async with services.sessions() as db, db.begin():
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == people[1].id)
        )
        assert session is not None
        session.state = {"engine": {"not": "a state"}}
    results = await asyncio.gather(*(accept(services, _message(p, "7")) for p in people))
    assert all(r.inbound_id for r in results)
    async with services.sessions() as db:
        outcomes = dict(
            (await db.execute(select(InboundRow.participant_id, InboundRow.outcome))).all()
        )
        answered = set(await db.scalars(select(Answer.participant_id)))
    assert outcomes[people[1].id] == "error"  # set aside for a person, as one by one does
    assert answered == {people[0].id, people[2].id}


async def test_after_a_rollback_each_persons_messages_keep_their_order(
    services: Services,
) -> None:
    """Two answers from one person in a batch that fails: processed one by one, still in
    the order they arrived (their webhooks raced to store them, and the later one could
    be stored, and so processed, first)."""
    broken, person = await make_participant(services), await make_participant(services)
    for who in (broken, person):
        await in_sleep_checkin(services, who)
    async with services.sessions() as db, db.begin():
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == broken.id)
        )
        assert session is not None
        session.state = {"engine": {"not": "a state"}}
    services.intake = Intake(services, size=64)
    messages = [_message(broken, "7"), _message(person, "7"), _message(person, "no")]
    results = await asyncio.gather(*(accept(services, m) for m in messages))
    assert all(r.inbound_id and not r.duplicate for r in results)
    async with services.sessions() as db:
        answers = await db.execute(
            select(Answer.key, Answer.value)
            .where(Answer.participant_id == person.id)
            .order_by(Answer.id)
        )
        assert answers.all() == [("sleep_quality", 7), ("pain_woke", "no")]
        stored = await db.scalars(
            select(InboundRow.text).where(InboundRow.participant_id == person.id).order_by("id")
        )
        assert list(stored) == ["7", "no"]


@pytest.mark.parametrize("raw", ["0", "-1", "many", "1001"])
def test_a_bad_batch_size_stops_start_up_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="INBOUND_BATCH"):
        load_settings({"INBOUND_BATCH": raw})


async def test_a_batch_of_one_means_no_intake(database_url: str) -> None:
    one = build_services(make_settings(database_url, inbound_batch=1))
    one.start_intake()
    assert one.intake is None and load_settings({}).inbound_batch == 64
    await one.close()


async def test_the_duplicate_check_searches_the_unique_index(database_url: str) -> None:
    """Not a scan of every message ever received: the table grows by millions a year."""
    messages = [
        InboundMessage(
            channel=channel,
            provider_id=f"SM{n}",
            sender="+447700900001",
            text="7",
            received_at=START,
        )
        for n, channel in enumerate(("sms", "whatsapp", "sms"))
    ]
    engine = make_engine(database_url)
    try:
        query = seen_query(engine.dialect.name, {1, 2}, messages).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = await connection.execute(sql_text(f"EXPLAIN QUERY PLAN {query}"))
                steps = [str(row[-1]) for row in rows]
                # A block's one-row subquery (the largest id, found by the min/max search
                # of the primary key) is read through; no table is.
                scans = [s for s in steps if s.startswith("SCAN") and not s.startswith("SCAN anon")]
                assert not scans, steps
                assert {"SEARCH inbound_messages", "SEARCH flow_sessions"} <= set(steps), steps
                assert any("channel=? AND provider_id=?" in step for step in steps), steps
            else:
                await connection.execute(sql_text("SET LOCAL enable_seqscan = off"))
                rows = await connection.execute(sql_text(f"EXPLAIN {query}"))
                lines = [str(row[0]) for row in rows]
                # The leading column in the condition: the index is searched, not read through.
                conditions = [line for line in lines if "Index Cond" in line]
                assert any("channel" in c and "provider_id" in c for c in conditions), lines
    finally:
        await engine.dispose()
