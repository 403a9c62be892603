"""Applying engine events inside one transaction: one handler per event type."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import events as ev
from bot.host.audit import audit
from bot.host.escalations import open_escalation
from bot.host.outbox import queue
from bot.i18n.languages import LANGUAGES
from bot.store.bulk import add_row
from bot.store.models import Answer, FlowSession, Participant

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """What one handler call may touch: the transaction and the records of this turn."""

    db: AsyncSession
    participant: Participant
    session: FlowSession
    now: datetime
    inbound_id: int | None = None
    message_kind: str = "flow"
    replying: bool = False  # someone is waiting for this turn's messages (bot.outbox.lanes)
    follow_up: list[str] = field(default_factory=list)  # flows to start after this one


async def _message(turn: Turn, event: ev.Message) -> None:
    queue(
        turn.db,
        turn.participant,
        event.text,
        now=turn.now,
        kind=turn.message_kind,
        buttons=event.buttons,
        replying=turn.replying,
    )


async def _answer(turn: Turn, event: ev.Answer) -> None:
    _update_profile(turn, event)
    values = {
        "participant_id": turn.participant.id,
        "session_id": turn.session.id,
        "flow_id": event.flow,
        "key": event.key,
        "value": event.value,
        "at": turn.now,
    }
    add_row(turn.db, Answer, values)


def _update_profile(turn: Turn, event: ev.Answer) -> None:
    """Answers that change how we talk to the participant take effect at once."""
    participant = turn.participant
    if event.key == "preferred_language" and str(event.value) in LANGUAGES:
        participant.language = str(event.value)
    elif event.key == "consent" and event.value in ("yes", "no"):
        participant.consent = event.value == "yes"
        participant.consent_at = turn.now
        audit(
            turn.db,
            turn.now,
            f"participant:{participant.id}",
            "consent.answer",
            f"participant:{participant.id}",
            given=participant.consent,
        )
    else:
        return
    participant.updated_at = turn.now


async def _escalate(turn: Turn, event: ev.Escalate) -> None:
    await open_escalation(
        turn.db,
        participant_id=turn.participant.id,
        priority=event.priority,
        reason=event.reason,
        source=event.source,
        now=turn.now,
        inbound_id=turn.inbound_id,
    )


async def _set_field(turn: Turn, event: ev.SetField) -> None:
    turn.participant.fields = {**(turn.participant.fields or {}), event.name: event.value}
    turn.participant.updated_at = turn.now


async def _wait(turn: Turn, event: ev.Wait) -> None:
    turn.session.timeout_at = event.until


async def _end(turn: Turn, event: ev.End) -> None:
    turn.session.status = "ended"
    turn.session.outcome = event.outcome
    turn.session.ended_at = turn.now
    turn.session.timeout_at = None


async def _start_flow(turn: Turn, event: ev.StartFlow) -> None:
    turn.follow_up.append(event.flow)


async def _error(turn: Turn, event: ev.Error) -> None:
    log.error("flow error", extra={"session_id": turn.session.id, "flow": turn.session.flow_id})
    audit(
        turn.db,
        turn.now,
        "system",
        "flow.error",
        f"session:{turn.session.id}",
        message=event.message,
    )


Handler = Callable[[Turn, Any], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    "message": _message,
    "answer": _answer,
    "escalate": _escalate,
    "set_field": _set_field,
    "wait": _wait,
    "end": _end,
    "start_flow": _start_flow,
    "error": _error,
}


async def apply_events(turn: Turn, events: list[ev.Event]) -> None:
    for event in events:
        await HANDLERS[event.kind](turn, event)
