"""What one inbound message means, decided in a fixed order of small steps.

Safety first (crisis screen, then the concern net), then STOP/START/HELP, then
media, then the running flow, then "talk to my coach", then a gentle reply.
Each step returns an outcome word when it has dealt with the message, or None
to let the next step look at it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Reply
from bot.host import replies
from bot.host.audit import audit
from bot.host.escalations import open_escalation
from bot.host.flows import end_session, live_session, resume_flow, start_flow
from bot.host.keywords import asks_for_coach, command_of
from bot.host.outbox import cancel_pending, queue
from bot.host.services import Services
from bot.safety import concern, crisis_reply, screen
from bot.store.models import InboundMessage as InboundRow
from bot.store.models import Participant

MEDIA_REASON = "Sent a voice note, picture or file: needs a person"
COACH_REASON = "Asked to talk to a coach"


@dataclass
class Message:
    services: Services
    db: AsyncSession
    participant: Participant
    row: InboundRow
    now: datetime

    @property
    def text(self) -> str:
        return self.row.text or ""

    @property
    def subject(self) -> str:
        return f"participant:{self.participant.id}"

    def reply(self, source: str, kind: str = "flow") -> None:
        body = replies.reply(self.services.catalogs, self.participant.language, source)
        queue(self.db, self.participant, body, now=self.now, kind=kind, replying=True)

    async def escalate(self, priority: str, reason: str, source: str) -> None:
        await open_escalation(
            self.db, participant_id=self.participant.id, priority=priority, reason=reason,
            source=source, now=self.now, inbound_id=self.row.id,
        )  # fmt: skip

    async def end_flow(self, outcome: str) -> None:
        session = await live_session(self.db, self.participant.id)
        if session is not None:
            await end_session(self.db, session, outcome, self.now)


async def crisis(m: Message) -> str | None:
    """A crisis or red flag: the fixed reply at once, an urgent item, the flow stops, check-ins pause."""
    hit = screen(m.text)
    if hit is None:
        return None
    line = m.services.settings.local_crisis_line
    queue(
        m.db,
        m.participant,
        crisis_reply(hit.kind, m.participant.language, line),
        now=m.now,
        kind="crisis",
    )
    await m.escalate(hit.priority, hit.reason, "safety")
    await m.end_flow("safety")
    if m.participant.status == "active":
        m.participant.status = "paused"  # scheduled check-ins wait until a coach resumes them
    audit(m.db, m.now, "system", "safety.hit", m.subject, kind=hit.kind, rule=hit.rule)
    return f"safety_{hit.kind}"


async def worry(m: Message) -> str | None:
    """Possible distress: a person reads it soon; no reply and the flow carries on."""
    hit = concern(m.text)
    if hit is not None:
        await m.escalate("high", hit.reason, "safety:concern")
        audit(m.db, m.now, "system", "safety.concern", m.subject, rule=hit.rule)
    return None


async def commands(m: Message) -> str | None:
    """STOP always works; an opted-out participant hears nothing but START; HELP says who we are."""
    command = command_of(m.text, m.services.catalogs) if not m.row.button else None
    if command == "stop":
        m.participant.status = "opted_out"
        await m.end_flow("opted_out")
        await cancel_pending(m.db, m.participant.id, m.now)
        m.reply(replies.OPTED_OUT, kind="optout")
        audit(m.db, m.now, m.subject, "participant.opt_out", m.subject)
        return "opted_out"
    if m.participant.status == "opted_out":
        if command != "start":
            return "ignored_opted_out"
        m.participant.status = "active"
        m.reply(replies.OPTED_IN, kind="optout")
        audit(m.db, m.now, m.subject, "participant.opt_in", m.subject)
        return "opted_in"
    if command == "help":
        m.reply(replies.HELP, kind="help")
        return "help"
    return "start_ignored" if command == "start" else None


async def media(m: Message) -> str | None:
    """A voice note or picture with no words needs a person, not an error."""
    if m.text.strip() or m.row.button:
        return None
    if not m.row.media_count:
        return "empty"
    await m.escalate("routine", MEDIA_REASON, "media")
    m.reply(replies.MEDIA)
    return "media"


async def flow(m: Message) -> str | None:
    session = await live_session(m.db, m.participant.id)
    if session is None or session.status != "waiting":
        return None
    reply = Reply(m.text, m.row.button)
    resumed = await resume_flow(
        m.services, m.db, m.participant, session, reply, inbound_id=m.row.id
    )
    return "flow" if resumed else None


async def coach(m: Message) -> str | None:
    if not asks_for_coach(m.text, m.services.catalogs):
        return None
    args = (m.services, m.db, m.participant, "talk_to_coach")
    if await start_flow(*args, trigger="keyword", inbound_id=m.row.id):
        return "talk_to_coach"
    await m.escalate("routine", COACH_REASON, "keyword")
    m.reply(replies.COACH_ASKED)
    return "coach_asked"


async def outside(m: Message) -> str | None:
    m.reply(replies.OUTSIDE_FLOW)
    return "outside_flow"


Step = Callable[[Message], Awaitable[str | None]]
STEPS: tuple[Step, ...] = (crisis, worry, commands, media, flow, coach, outside)


async def decide(m: Message) -> str:
    for step in STEPS:
        outcome = await step(m)
        if outcome is not None:
            return outcome
    return "outside_flow"
