"""Starting, resuming and ending flow sessions for a participant (inside a transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import engine
from bot.engine import Flow, Input, SessionState
from bot.engine.conditions import MAX_RECENT
from bot.host import prefetch
from bot.host.apply import Turn, apply_events
from bot.host.services import Services
from bot.store.bulk import held_rows
from bot.store.models import Answer, FlowSession, Participant, User
from bot.store.numbering import number

MAX_CHAINED_FLOWS = 3
ON_SCREEN = frozenset({"simulator", "preview"})  # staff started it and watch for the reply
HISTORY_DEPTH = MAX_RECENT


async def live_session(db: AsyncSession, participant_id: int) -> FlowSession | None:
    taken, session = prefetch.take_live(db, participant_id)
    if taken:
        return session
    found: FlowSession | None = await db.scalar(
        select(FlowSession)
        .where(FlowSession.participant_id == participant_id, FlowSession.status != "ended")
        .order_by(FlowSession.id.desc())
        .limit(1)
    )
    return found


def look_back_keys(flow: Flow | None) -> frozenset[str]:
    """The answers a turn of ``flow`` may look back at: what it saves and what its
    conditions read (the keys of ``answer_history``, and of a batch's read-ahead)."""
    return frozenset(flow.saved_names() | flow.history_names()) if flow else frozenset()


def participant_fields(
    participant: Participant, params: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a flow may read about the participant; params come from the trigger."""
    first_name = (participant.name or "").split(" ")[0]
    return {
        **(participant.fields or {}),
        **(extra or {}),
        "name": first_name,
        "language": participant.language,
        "channel": participant.channel,
        **params,
    }


async def service_fields(
    services: Services, db: AsyncSession, participant: Participant
) -> dict[str, Any]:
    """Who is texting: the coach's first name and the organisation, for welcome messages."""
    fields: dict[str, Any] = {}
    if participant.coach_id is not None:
        known, coach_name = prefetch.coach_name(db, participant.coach_id)
        if not known:
            coach_name = await db.scalar(select(User.name).where(User.id == participant.coach_id))
        if coach_name:
            fields["coach_name"] = coach_name.split(" ")[0]
    if services.settings.organisation:
        fields["organisation"] = services.settings.organisation
    return fields


async def answer_history(
    db: AsyncSession, participant_id: int, keys: frozenset[str], exclude_session: int | None
) -> dict[str, list[Any]]:
    """Recent earlier answers per key, oldest first, for trend conditions."""
    if not keys:
        return {}
    rows = prefetch.take_history(db, participant_id, keys)
    if rows is None:
        result = await db.execute(
            select(Answer.key, Answer.value, Answer.session_id)
            .where(Answer.participant_id == participant_id, Answer.key.in_(keys))
            .order_by(Answer.at.desc(), Answer.id.desc())
            .limit(HISTORY_DEPTH * len(keys))
        )
        rows = [(key, value, session_id) for key, value, session_id in result]
    rows = _held_answers(db, participant_id, keys) + rows
    history: dict[str, list[Any]] = {}
    for key, value, session_id in rows:
        if exclude_session is not None and session_id == exclude_session:
            continue
        history.setdefault(key, []).insert(0, value)
    return history


def _held_answers(
    db: AsyncSession, participant_id: int, keys: frozenset[str]
) -> prefetch.HistoryRows:
    """This turn's own answers, newest first, when a batch holds them back from the session
    (``bot.store.bulk.add_row``): a flow started by another in the same turn sees them, as
    it would one message at a time, where they are flushed before the query."""
    return [
        (row["key"], row["value"], row["session_id"])
        for row in reversed(held_rows(db, Answer))
        if row["participant_id"] == participant_id and row["key"] in keys
    ]


async def end_session(db: AsyncSession, session: FlowSession, outcome: str, now: datetime) -> None:
    session.status = "ended"
    session.outcome = outcome
    session.ended_at = now
    session.timeout_at = None


def _store_state(session: FlowSession, state: SessionState, params: dict[str, Any]) -> None:
    session.state = {"engine": state.to_json(), "params": params}
    session.step = state.step
    session.status = state.status
    session.retries = state.retries
    session.waiting_since = state.waiting_since
    session.timeout_at = state.timeout_at
    session.expires_at = state.expires_at


async def _run_follow_ups(
    services: Services, db: AsyncSession, participant: Participant, turn: Turn, depth: int
) -> None:
    for flow_id in turn.follow_up:
        if depth >= MAX_CHAINED_FLOWS:
            break
        await start_flow(
            services, db, participant, flow_id, trigger="flow", inbound_id=turn.inbound_id,
            depth=depth + 1, replying=turn.replying,
        )  # fmt: skip


async def start_flow(
    services: Services,
    db: AsyncSession,
    participant: Participant,
    flow_id: str,
    *,
    params: dict[str, Any] | None = None,
    trigger: str = "manual",
    inbound_id: int | None = None,
    depth: int = 0,
    replying: bool | None = None,
) -> FlowSession | None:
    """End any live session and start ``flow_id``; None if that flow is not loaded.

    ``replying``: someone is waiting for these messages, so they go ahead of scheduled
    ones in the outbox; by default, when a message started it or staff started it on
    screen (the simulator, a preview).
    """
    flow = services.flows.get(flow_id)
    if flow is None:
        return None
    now = services.clock.now()
    current = await live_session(db, participant.id)
    if current is not None:
        await end_session(db, current, "replaced", now)
    params = dict(params or {})
    history = await answer_history(db, participant.id, look_back_keys(flow), None)
    state, events = engine.start(
        flow,
        language=participant.language,
        now=now,
        fields=participant_fields(
            participant, params, await service_fields(services, db, participant)
        ),
        history=history,
        tr=services.catalogs,
    )
    session = FlowSession(
        participant_id=participant.id,
        flow_id=flow.id,
        flow_version=flow.version,
        step=state.step,
        status=state.status,
        state={},
        expires_at=state.expires_at,
        started_at=now,
        trigger=trigger,
    )
    _store_state(session, state, params)
    numbered = await number(db, session)  # before ``add``: taking a block may autoflush
    db.add(session)
    if not numbered:
        await db.flush()  # the id, from the database
    if replying is None:
        replying = inbound_id is not None or trigger in ON_SCREEN
    turn = Turn(db, participant, session, now, inbound_id, replying=replying)
    await apply_events(turn, events)
    await _run_follow_ups(services, db, participant, turn, depth)
    return session


def flow_for(services: Services, session: FlowSession) -> Flow | None:
    """The flow a session runs: the version it started on; the current version instead
    only where staff published it as compatible and the waiting step is still a question
    there. A version this process never had (an unpublished file edit) falls back to the
    current one if the step still exists."""
    library = services.flows
    current = library.get(session.flow_id)
    if (
        current is not None
        and current.version != session.flow_version
        and library.may_move(session.flow_id, session.flow_version)
        and getattr(current.steps.get(session.step), "kind", None) == "ask"
    ):
        return current
    own = library.version(session.flow_id, session.flow_version)
    if own is not None:
        return own if session.step in own.steps else None
    if current is None or session.step not in current.steps:
        return None
    return current


async def resume_flow(
    services: Services,
    db: AsyncSession,
    participant: Participant,
    session: FlowSession,
    reply: Input,
    *,
    inbound_id: int | None = None,
) -> bool:
    """Feed a reply or timeout to a waiting session; False if it could not run."""
    now = services.clock.now()
    flow = flow_for(services, session)
    if flow is None:
        await end_session(db, session, "flow_unavailable", now)
        return False
    params = dict(session.state.get("params", {}))
    history = await answer_history(db, participant.id, look_back_keys(flow), session.id)
    state = SessionState.from_json(
        session.state["engine"],
        participant_fields(participant, params, await service_fields(services, db, participant)),
        history,
    )
    state = state.evolve(language=participant.language, flow_version=flow.version)
    session.flow_version = flow.version  # moved on to a compatible version, or unchanged
    state, events = engine.resume(flow, state, reply, now, tr=services.catalogs)
    _store_state(session, state, params)
    turn = Turn(db, participant, session, now, inbound_id, replying=inbound_id is not None)
    await apply_events(turn, events)
    await _run_follow_ups(services, db, participant, turn, 0)
    return state.outcome != "expired"
