"""Two web and two worker processes on one PostgreSQL: one truth, whatever the load balancer does.

Webhooks are spread across both web processes, many are posted twice at once (to
both), some bursts arrive faster than they are processed; check-ins fall due for
both workers to race for. Afterwards: every accepted message processed once and
in order, every outbox row sent once, every due check-in started once, every
crisis escalated, no personal data in any process's output.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.models import Answer, Escalation, FlowSession, InboundMessage, OutboxMessage
from bot.store.models.scheduling import ScheduledItem
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.system.conftest import needs_postgres
from tests.system.processes import (
    API_TOKEN,
    INBOUND_PATH,
    ServiceProcess,
    daytime_zone,
    encode_form,
    inbound_params,
    service_env,
    sign,
)

pytestmark = [pytest.mark.system, needs_postgres]

SEQUENTIAL, BURST, CRISIS, DUE = 16, 6, 5, 8
CONVERSATION = ["7", "no", "6"]
CRISIS_TEXT = "I want to end my life"
UNKNOWN_SENDER = "+447911199999"
EXPECTED_ANSWERS = [("sleep_quality", 7), ("pain_woke", "no"), ("hours_slept", 6)]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OUTBOX_ID = re.compile(r"[?&]outbox=(\d+)")
SETTLED = 40.0  # seconds allowed for both workers to drain everything


@dataclass
class Traffic:
    """What the test posted and what the web processes answered."""

    webs: list[ServiceProcess]
    client: aiohttp.ClientSession
    rng: random.Random
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: dict[str, int] = field(default_factory=dict)  # MessageSid -> participant (0: none)
    counter: int = 0

    def sid(self) -> str:
        self.counter += 1
        return f"SM{self.counter:032x}"

    async def post(self, web: ServiceProcess, params: dict[str, str]) -> int:
        headers = {**FORM, "X-Twilio-Signature": sign(AUTH_TOKEN, params)}
        async with self.client.post(
            web.url + INBOUND_PATH, data=encode_form(params), headers=headers
        ) as response:
            await response.read()
            self.statuses[response.status] += 1
            return response.status

    async def message(self, phone: str, body: str, who: int) -> None:
        """One message to a random web process; half the time a copy to the other one at once,
        and now and then a provider retry afterwards."""
        params = inbound_params(ACCOUNT_SID, self.sid(), phone, body)
        first, other = self.rng.sample(self.webs, 2)
        posts = [self.post(first, params)]
        if self.rng.random() < 0.5:
            posts.append(self.post(other, params))
        results = await asyncio.gather(*posts)
        if self.rng.random() < 0.2:
            results.append(await self.post(self.rng.choice(self.webs), params))
        if any(200 <= status < 300 for status in results):
            self.accepted[params["MessageSid"]] = who


async def api(client: aiohttp.ClientSession, web: ServiceProcess, path: str, body: Any) -> Any:
    async with client.post(
        web.url + path, json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}
    ) as response:
        assert response.status in (201, 202), await response.text()
        return await response.json()


async def settled(engine: AsyncEngine, due_ids: list[int]) -> bool:
    async with engine.connect() as db:
        unprocessed = await db.scalar(
            select(func.count()).where(InboundMessage.processed_at.is_(None))
        )
        unsent = await db.scalar(
            select(func.count()).where(OutboxMessage.status.in_(["pending", "claimed", "sending"]))
        )
        waiting = await db.scalar(
            select(func.count()).where(
                ScheduledItem.id.in_(due_ids), ScheduledItem.status.in_(["pending", "claimed"])
            )
        )
    return unprocessed == 0 and unsent == 0 and waiting == 0


def sends_by_outbox_id(fake: FakeTwilio) -> Counter[int]:
    sent: Counter[int] = Counter()
    for request in fake.requests:
        found = OUTBOX_ID.search(request.form.get("StatusCallback", ""))
        assert found, "every send carries its outbox id in the status callback"
        if request.answered == "201":
            sent[int(found.group(1))] += 1
    return sent


async def test_two_webs_and_two_workers_process_and_send_everything_exactly_once(
    system_database: str, twilio_fake: FakeTwilio, logs_dir: Callable[[str], Path]
) -> None:
    env = service_env(
        system_database,
        twilio_url=twilio_fake.url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        RUN_WORKERS_IN_PROCESS="false",
    )
    webs = [ServiceProcess("serve", env, logs_dir(f"web{i}")) for i in (1, 2)]
    workers = [ServiceProcess("worker", env, logs_dir(f"worker{i}")) for i in (1, 2)]
    everyone = [*webs, *workers]
    engine = create_async_engine(system_database)
    rng = random.Random(9)
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    try:
        for process in everyone:
            process.start()
        await asyncio.gather(*(p.ready() for p in everyone))
        now = datetime.now(UTC)
        zone = daytime_zone(now)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as client:
            traffic = Traffic(webs, client, rng)
            sizes = {"sequential": SEQUENTIAL, "burst": BURST, "crisis": CRISIS, "due": DUE}
            number = 0
            for group, size in sizes.items():
                for _ in range(size):
                    number += 1
                    phone = f"+4479111{number:05d}"
                    body = {"phone": phone, "channel": "sms", "language": "en", "consent": True,
                            "name": "Sam", "timezone": zone}  # fmt: skip
                    created = await api(client, webs[number % 2], "/api/participants", body)
                    groups[group].append((created["id"], phone))
            for group in ("sequential", "burst", "crisis"):
                for index, (pid, _) in enumerate(groups[group]):
                    web = webs[index % 2]
                    await api(client, web, f"/api/participants/{pid}/flows", {"flow": "sleep_checkin"})  # fmt: skip
            async with engine.begin() as db:
                due_ids = list(
                    (
                        await db.execute(
                            ScheduledItem.__table__.insert().returning(ScheduledItem.id),
                            [
                                {"key": f"system:{pid}", "participant_id": pid, "kind": "checkin",
                                 "flow_id": "sleep_checkin", "params": {},
                                 "due_at": now - timedelta(minutes=1),
                                 "not_after": now + timedelta(hours=2), "status": "pending",
                                 "attempts": 0, "created_at": now}
                                for pid, _ in groups["due"]
                            ],
                        )
                    ).scalars()
                )  # fmt: skip

            async def sequential(pid: int, phone: str) -> None:
                for body in CONVERSATION:
                    await traffic.message(phone, body, pid)

            async def burst(pid: int, phone: str) -> None:
                await asyncio.gather(*(traffic.message(phone, b, pid) for b in CONVERSATION))

            async def crisis(pid: int, phone: str) -> None:
                for body in ("7", CRISIS_TEXT, "no"):
                    await traffic.message(phone, body, pid)

            await asyncio.gather(
                *(sequential(*p) for p in groups["sequential"]),
                *(burst(*p) for p in groups["burst"]),
                *(crisis(*p) for p in groups["crisis"]),
                traffic.message(UNKNOWN_SENDER, CRISIS_TEXT, 0),
            )
        assert set(traffic.statuses) == {200}, traffic.statuses

        deadline = time.monotonic() + SETTLED
        while not await settled(engine, due_ids):
            assert time.monotonic() < deadline, "the workers did not drain in time"
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # a stray double send would land now

        async with engine.connect() as db:
            inbound = (await db.execute(select(InboundMessage).order_by(InboundMessage.id))).all()
            outbox = (await db.execute(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            answers = (await db.execute(select(Answer).order_by(Answer.id))).all()
            sessions = (await db.execute(select(FlowSession).order_by(FlowSession.id))).all()
            escalations = (await db.execute(select(Escalation))).all()
            due = (await db.execute(select(ScheduledItem).where(ScheduledItem.id.in_(due_ids)))).all()  # fmt: skip

        # Every accepted message stored once and processed once, in arrival order.
        assert sorted(r.provider_id for r in inbound) == sorted(traffic.accepted)
        assert all((r.participant_id or 0) == traffic.accepted[r.provider_id] for r in inbound)
        assert all(r.processed_at is not None and r.outcome not in (None, "error") for r in inbound)
        by_participant: defaultdict[int, list[Any]] = defaultdict(list)
        for row in inbound:
            by_participant[row.participant_id or 0].append(row)
        for pid, rows in by_participant.items():
            processed = sorted(rows, key=lambda r: r.processed_at)
            assert [r.id for r in processed] == [r.id for r in rows], f"participant {pid} order"

        answers_of: defaultdict[int, list[tuple[str, Any]]] = defaultdict(list)
        for answer in answers:
            answers_of[answer.participant_id].append((answer.key, answer.value))
        for pid, _ in groups["sequential"]:
            assert answers_of[pid] == EXPECTED_ANSWERS, pid
        sessions_of: defaultdict[int, list[Any]] = defaultdict(list)
        for session in sessions:
            sessions_of[session.participant_id].append(session)
        for pid, _ in groups["sequential"]:
            [session] = sessions_of[pid]
            assert (session.status, session.outcome) == ("ended", "completed")

        # Every outbox row sent exactly once; nothing doubled, nothing left behind.
        sent = sends_by_outbox_id(twilio_fake)
        assert {r.status for r in outbox} == {"sent"}, Counter(r.status for r in outbox)
        assert sent == Counter({r.id: 1 for r in outbox})
        bodies_of: defaultdict[int, list[str]] = defaultdict(list)
        for row in outbox:
            bodies_of[row.participant_id or 0].append(row.body or "")
        conversations = {tuple(bodies_of[pid]) for pid, _ in groups["sequential"]}
        assert len(conversations) == 1, "every sequential participant had the same conversation"
        [conversation] = conversations
        assert len(conversation) == 5 and conversation[-1].startswith("Thank you")

        # Every crisis escalated once (urgent), and answered once.
        urgent = Counter(e.participant_id for e in escalations if e.priority == "urgent")
        assert urgent == Counter({pid: 1 for pid, _ in groups["crisis"]} | {None: 1})
        for pid, _ in groups["crisis"]:
            kinds = Counter(r.kind for r in outbox if r.participant_id == pid)
            assert kinds["crisis"] == 1

        # Every due check-in started once, by one of the two workers.
        assert {(r.status, r.outcome) for r in due} == {("done", "started")}
        for pid, _ in groups["due"]:
            [session] = sessions_of[pid]
            assert session.trigger == "schedule"
            assert len(bodies_of[pid]) == 2  # the greeting and the first question, once each
    finally:
        codes = await asyncio.gather(*(asyncio.to_thread(p.stop) for p in everyone))
        await engine.dispose()
    assert codes == [0, 0, 0, 0], "every process stops cleanly on SIGTERM"

    # No phone number or message text in anything the processes wrote.
    output = "\n".join(p.output() for p in everyone)
    phones = [phone for members in groups.values() for _, phone in members]
    for secret in [*phones, *(p.lstrip("+") for p in phones), UNKNOWN_SENDER, CRISIS_TEXT]:
        assert secret not in output, "personal data in a process's output"
