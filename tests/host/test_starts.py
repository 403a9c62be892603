"""API flow starts made together in one transaction (``bot.host.starts``) do exactly what
each would do alone: the same session, the same messages, the same refusals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update

from bot.host.services import Services
from bot.host.starts import StartRequest, start_alone, start_together
from bot.store.models import FlowSession, Participant
from tests.host.helpers import add_sleep_answers, bodies, make_participant


async def _set(services: Services, participant_id: int, **values: Any) -> None:
    async with services.sessions() as db, db.begin():
        await db.execute(
            update(Participant).where(Participant.id == participant_id).values(**values)
        )


async def _live(services: Services, participant_id: int) -> list[FlowSession]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(FlowSession).where(
                FlowSession.participant_id == participant_id, FlowSession.status != "ended"
            )
        )
        return list(rows)


async def _with_history(services: Services) -> Participant:
    """Someone who has answered the sleep check-in before (its questions look back)."""
    participant = await make_participant(services)
    await add_sleep_answers(services, participant.id, 3, 4, 2)
    return participant


async def test_starts_together_match_starts_alone(services: Services) -> None:
    alone = [await _with_history(services), await make_participant(services)]
    together = [await _with_history(services), await make_participant(services)]
    for participant in alone:
        assert isinstance(
            await start_alone(services, StartRequest(participant.id, "sleep_checkin")), int
        )
    outcomes = await start_together(
        services, [StartRequest(p.id, "sleep_checkin") for p in together]
    )
    assert all(isinstance(o, int) for o in outcomes) and len(set(outcomes)) == 2
    for one, other in zip(alone, together, strict=True):
        assert await bodies(services, one) == await bodies(services, other)
        (a,) = await _live(services, one.id)
        (b,) = await _live(services, other.id)
        assert (a.flow_id, a.step, a.status, a.trigger) == (b.flow_id, b.step, b.status, b.trigger)
        assert a.state == b.state


async def test_a_start_together_replaces_a_running_flow(services: Services) -> None:
    participant = await make_participant(services)
    (first,) = await start_together(services, [StartRequest(participant.id, "sleep_checkin")])
    (second,) = await start_together(services, [StartRequest(participant.id, "sleep_checkin")])
    (live,) = await _live(services, participant.id)
    assert live.id == second != first


async def test_refusals_and_repeats_in_one_batch(services: Services) -> None:
    ready = await make_participant(services)
    opted_out = await make_participant(services)
    await _set(services, opted_out.id, status="opted_out")
    unconsented = await make_participant(services, consent=False)
    erased = await make_participant(services)
    await _set(services, erased.id, status="erased")
    asked = [
        StartRequest(ready.id, "sleep_checkin"),
        StartRequest(opted_out.id, "sleep_checkin"),
        StartRequest(unconsented.id, "sleep_checkin"),
        StartRequest(erased.id, "sleep_checkin"),
        StartRequest(999_999, "sleep_checkin"),
        StartRequest(ready.id, "sleep_checkin"),  # a second for the same person: alone, after
    ]
    outcomes = await start_together(services, asked)
    assert isinstance(outcomes[0], int)
    assert outcomes[1:] == ["opted_out", "no_consent", "missing", "missing", None]
    for participant in (opted_out, unconsented, erased):
        assert await bodies(services, participant) == []
        assert await _live(services, participant.id) == []
    assert isinstance(await start_alone(services, asked[5]), int)
    (live,) = await _live(services, ready.id)
    assert live.id != outcomes[0]


async def test_an_unpublished_flow_is_refused_not_raised(services: Services) -> None:
    participant = await make_participant(services)
    assert await start_together(services, [StartRequest(participant.id, "no_such_flow")]) == [
        "unknown_flow"
    ]
    assert (
        await start_alone(services, StartRequest(participant.id, "no_such_flow")) == "unknown_flow"
    )


async def test_the_sessions_messages_and_audit_rows_of_a_batch_go_in_one_insert_each(
    services: Services,
) -> None:
    """Each start's new session is numbered from the batch's block of ids and written with
    the others (``bot.store.numbering``), not flushed a start at a time for its id; the
    rows before it must not be flushed with it, one ORM INSERT per row, as they were."""
    people = [await make_participant(services) for _ in range(5)]
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.startswith(("INSERT INTO outbox", "INSERT INTO audit_log", "INSERT INTO flow_s")):
            inserts.append(sql.split()[2])

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = await start_together(
            services, [StartRequest(p.id, "sleep_checkin") for p in people]
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(isinstance(o, int) for o in outcomes)
    assert sorted(inserts) == ["audit_log", "flow_sessions", "outbox"]
    for participant, started in zip(people, outcomes, strict=True):  # nothing lost on the way
        assert await bodies(services, participant)
        assert [live.id for live in await _live(services, participant.id)] == [started]
