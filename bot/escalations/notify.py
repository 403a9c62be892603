"""Telling people about escalations: new urgent/high items, overdue items, the duty lead.

One idempotent sweep (``notify_sweep``, run by the scheduler) moves each item
through ``notify_level``:

0. new (or reassigned, or raised in priority): an urgent or high item notifies
   whoever is responsible (assignee, else the participant's coach, else the duty
   lead); outside staffed hours an urgent item also notifies the out-of-hours
   contact when one is configured;
1. notified; if still unclaimed at its deadline, the same people are reminded;
2. reminded; if still unclaimed ``lead_after`` past the deadline, the duty lead
   (or every lead) is told;
3. done.

Notifications go through the outbox (kind ``notify``) to the user's Telegram chat
or work phone. Their text names only the priority and the dashboard link: never
the participant's words, name or anything about their health.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.escalations.policy import EscalationPolicy, policy_from_settings
from bot.host.audit import audit
from bot.host.outbox import enqueue_to_staff
from bot.host.services import Services
from bot.store.models import Escalation, Participant, User

log = logging.getLogger(__name__)
SWEEP_LIMIT = 200
MIN_GAP = timedelta(minutes=5)  # never chase the same item more often than this
NOTIFIED_PRIORITIES = frozenset({"urgent", "high"})
PRIORITY_WORDS = {"urgent": "an urgent item", "high": "a high-priority item", "routine": "an item"}

# notify_level values
NEW, NOTIFIED, REMINDED, LEAD_TOLD = 0, 1, 2, 3


@dataclass(frozen=True)
class Recipient:
    user_id: int | None
    channel: str
    address: str
    label: str  # for the audit log: "user:3" or "out_of_hours_contact"


def message(kind: str, priority: str, link: str) -> str:
    """The whole text of a notification: a priority word and a link, nothing else."""
    what = PRIORITY_WORDS.get(priority, "an item")
    if kind == "new":
        return f"Rethink Check-ins: {what} is waiting. Open the dashboard: {link}"
    if kind == "reminder":
        return (
            f"Rethink Check-ins reminder: {what} has not been picked up. Open the dashboard: {link}"
        )
    if kind == "lead":
        return (
            f"Rethink Check-ins: {what} is past its deadline and nobody has picked it up. "
            f"Open the dashboard: {link}"
        )
    return f"Rethink Check-ins: {what} arrived outside staffed hours. Open the dashboard: {link}"


def contact_of(user: User, channels: set[str]) -> Recipient | None:
    """Telegram chat first, then the work phone by SMS; prefer a channel this process has."""
    options = []
    if user.telegram_chat_id:
        options.append(("telegram", user.telegram_chat_id))
    if user.work_phone:
        options.append(("sms", user.work_phone))
    if not user.active or not options:
        return None
    channel, address = next((o for o in options if o[0] in channels), options[0])
    return Recipient(user.id, channel, address, f"user:{user.id}")


async def duty_leads(db: AsyncSession, policy: EscalationPolicy) -> list[User]:
    if policy.duty_lead:
        named = await db.scalar(
            select(User).where(User.email == policy.duty_lead, User.active.is_(True))
        )
        if named is not None and (named.telegram_chat_id or named.work_phone):
            return [named]
    return list(
        await db.scalars(
            select(User).where(User.role == "lead", User.active.is_(True)).order_by(User.id)
        )
    )


async def responsible(
    db: AsyncSession, item: Escalation, participant: Participant | None, policy: EscalationPolicy
) -> list[User]:
    """Assignee, else the participant's coach, else the duty lead."""
    for user_id in (item.assignee_id, participant.coach_id if participant else None):
        if user_id is not None:
            user = await db.get(User, user_id)
            if user is not None and user.active:
                return [user]
    return await duty_leads(db, policy)


class Notifier:
    """One sweep's worth of notifications, inside one transaction."""

    def __init__(self, services: Services, db: AsyncSession, now: datetime) -> None:
        self.services = services
        self.db = db
        self.now = now
        self.policy = policy_from_settings(services.settings)
        self.channels = set(services.channels)
        self.sent = 0

    def link(self, item: Escalation) -> str:
        return f"{self.services.settings.public_url.rstrip('/')}/items/{item.id}"

    def _send(self, item: Escalation, recipient: Recipient, kind: str) -> None:
        enqueue_to_staff(
            self.db,
            channel=recipient.channel,
            to=recipient.address,
            body=message(kind, item.priority, self.link(item)),
            now=self.now,
            user_id=recipient.user_id,
        )
        audit(
            self.db, self.now, "system", "escalation.notify", f"escalation:{item.id}",
            to=recipient.label, kind=kind, channel=recipient.channel,
        )  # fmt: skip
        self.sent += 1

    async def _tell(self, item: Escalation, users: list[User], kind: str) -> bool:
        """Notify each reachable user; fall back to the leads; say so if nobody is reachable."""
        reachable = [r for r in (contact_of(u, self.channels) for u in users) if r is not None]
        if not reachable:
            leads = await duty_leads(self.db, self.policy)
            reachable = [r for r in (contact_of(u, self.channels) for u in leads) if r is not None]
        for recipient in reachable:
            self._send(item, recipient, kind)
        if not reachable:
            log.error(
                "escalation notification had nobody to go to", extra={"escalation_id": item.id}
            )
            audit(
                self.db,
                self.now,
                "system",
                "escalation.notify_unreachable",
                f"escalation:{item.id}",
                kind=kind,
            )
        return bool(reachable)

    async def step(self, item: Escalation) -> None:
        participant = (
            await self.db.get(Participant, item.participant_id) if item.participant_id else None
        )
        if item.notify_level == NEW:
            if item.priority in NOTIFIED_PRIORITIES:
                await self._tell(
                    item, await responsible(self.db, item, participant, self.policy), "new"
                )
            contact = self.policy.out_of_hours_contact
            if item.priority == "urgent" and contact and not self.policy.is_staffed(self.now):
                self._send(
                    item,
                    Recipient(None, contact.channel, contact.address, "out_of_hours_contact"),
                    "out_of_hours",
                )
            item.notify_level, item.notified_at = NOTIFIED, self.now
            return
        if item.status != "open" or item.deadline_at is None or self.now < item.deadline_at:
            return
        if item.notified_at is not None and self.now < item.notified_at + MIN_GAP:
            return
        if item.notify_level == NOTIFIED:
            await self._tell(
                item, await responsible(self.db, item, participant, self.policy), "reminder"
            )
            item.notify_level, item.notified_at = REMINDED, self.now
        elif (
            item.notify_level == REMINDED and self.now >= item.deadline_at + self.policy.lead_after
        ):
            await self._tell(item, await duty_leads(self.db, self.policy), "lead")
            item.notify_level, item.notified_at = LEAD_TOLD, self.now


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        Escalation.notify_level == NEW,
        and_(
            Escalation.status == "open",
            Escalation.notify_level < LEAD_TOLD,
            Escalation.deadline_at <= now,
        ),
    )


async def notify_sweep(services: Services) -> int:
    """Send what is due; returns how many notifications were queued. Safe to run anywhere."""
    now = services.clock.now()
    async with services.writing() as db:
        query = (
            select(Escalation)
            .where(Escalation.status != "resolved", _due(now))
            .order_by(Escalation.id)
            .limit(SWEEP_LIMIT)
        )
        if db.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        notifier = Notifier(services, db, now)
        for item in list(await db.scalars(query)):
            await notifier.step(item)
    if notifier.sent:
        services.outbox_wake.set()
    return notifier.sent
