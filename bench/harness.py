"""What the benchmark scripts share: a database, a fake provider, service processes, a load
driver that speaks signed Twilio webhooks, and the checks that every message was handled once.

Not a test module: the scripts in bench/ import it (they put the repository on sys.path).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import Row, func, insert, or_, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine  # noqa: E402

from bot.outbox.lanes import NAMES as LANE_NAMES  # noqa: E402
from bot.store.migrate import upgrade_async  # noqa: E402
from bot.store.models import (  # noqa: E402
    Answer,
    Consent,
    FlowSession,
    InboundMessage,
    OutboxMessage,
    Participant,
)
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402
from tests.system.processes import (  # noqa: E402
    API_TOKEN,
    INBOUND_PATH,
    ServiceProcess,
    create_database,
    encode_form,
    free_port,
    inbound_params,
    named_database,
    service_env,
    sign,
)

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# A sleep check-in, as a participant answers it: quality 0-10, woken by pain, hours slept.
ANSWERS: list[Callable[[random.Random], str]] = [
    lambda rng: str(rng.randint(4, 9)),
    lambda rng: rng.choice(["yes", "no", "Yes", "no thanks"]),
    lambda rng: str(rng.choice([5, 6, 6.5, 7, 8])),
]
SEED_CHUNK = 5000


def machine_load() -> dict[str, Any]:
    """The machine is shared: say how busy it was (1, 5, 15-minute load, cores)."""
    one, five, fifteen = os.getloadavg()
    return {"load": [round(one, 2), round(five, 2), round(fifteen, 2)], "cpus": os.cpu_count()}


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def phone_of(index: int) -> str:
    return f"+447400{index:06d}"


@dataclass
class Database:
    url: str
    kind: str  # sqlite | postgresql
    folder: Path

    @classmethod
    async def create(cls, kind: str, folder: Path, postgres_url: str, name: str) -> Database:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{folder}/{name}.db"
        else:
            url = named_database(postgres_url, name)
            await create_database(url)
        await upgrade_async(url)
        return cls(url, kind, folder)

    async def drop(self) -> None:
        if self.kind == "postgresql":
            from tests.system.processes import drop_database

            await drop_database(self.url)

    def engine(self) -> AsyncEngine:
        return create_async_engine(self.url)


async def seed_participants(
    url: str, count: int, first: int = 0, timezone: str = "Europe/London"
) -> list[int]:
    """Bulk-insert ``count`` SMS participants with consent (not measured)."""
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    ids: list[int] = []
    async with engine.begin() as db:
        for start in range(first, first + count, SEED_CHUNK):
            size = min(SEED_CHUNK, first + count - start)
            rows = [
                {"phone": phone_of(start + i), "channel": "sms", "language": "en",
                 "timezone": timezone, "name": "Sam", "status": "active", "consent": True,
                 "consent_at": now, "fields": {}, "demo": False, "created_at": now,
                 "updated_at": now}
                for i in range(size)
            ]  # fmt: skip
            chunk = list(
                (await db.execute(insert(Participant).returning(Participant.id), rows)).scalars()
            )
            await db.execute(
                insert(Consent),
                [{"participant_id": pid, "channel": "sms", "given": True, "how": "bench", "at": now}
                 for pid in chunk],
            )  # fmt: skip
            ids.extend(chunk)
    await engine.dispose()
    return ids


HISTORY = "history-"  # provider ids of seeded rows: no provider or load generator makes these
# One finished sleep check-in as the inbound benchmark's people answer it (no escalation).
_HISTORY_ANSWERS = (("sleep_quality", "7", 7), ("pain_woke", "yes", True), ("hours_slept", "6", 6))
_HISTORY_SENT = 4  # the greeting, three questions and the thanks: four texts (one joined)


async def seed_history(url: str, ids: Sequence[int], weeks: int) -> int:
    """``weeks`` finished weekly sleep check-ins for each participant, before the run:
    their sessions, answers, inbound messages and sent texts, as a service that has been
    running holds them. On PostgreSQL the tables are then analysed, as its autovacuum
    keeps them in a running service; SQLite has no such daemon, so nothing analyses it
    there. How many rows (not measured)."""
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    phones = {pid: phone_of(n) for n, pid in enumerate(ids)}
    written = 0
    try:
        async with engine.begin() as db:
            for week in range(1, weeks + 1):
                written += await _one_week(db, phones, now - timedelta(weeks=week), week)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as db:
                await db.execute(text("ANALYZE"))
                await db.commit()
    finally:
        await engine.dispose()
    return written


async def _one_week(db: AsyncConnection, phones: dict[int, str], at: datetime, week: int) -> int:
    """One week's rows for the participants in ``phones`` (id -> phone), as ``seed_history``."""
    ids = list(phones)
    ended = at + timedelta(minutes=10)
    sessions = [
        {"participant_id": pid, "flow_id": "sleep_checkin", "flow_version": 1, "step": "thanks",
         "status": "ended", "retries": 0, "state": {}, "expires_at": at + timedelta(hours=12),
         "started_at": at, "ended_at": ended, "outcome": "completed", "trigger": "schedule"}
        for pid in ids
    ]  # fmt: skip
    session_ids = list(
        (await db.execute(insert(FlowSession).returning(FlowSession.id), sessions)).scalars()
    )
    answers, inbound, sent = [], [], []
    for pid, session_id in zip(ids, session_ids, strict=True):
        for n, (key, text_sent, value) in enumerate(_HISTORY_ANSWERS):
            answers.append(
                {
                    "participant_id": pid,
                    "session_id": session_id,
                    "flow_id": "sleep_checkin",
                    "key": key,
                    "value": value,
                    "at": ended,
                }
            )
            inbound.append({"channel": "sms", "provider_id": f"{HISTORY}{week}-{pid}-{n}",
                            "participant_id": pid, "sender": phones[pid], "text": text_sent,
                            "media_count": 0, "received_at": at, "processed_at": at,
                            "outcome": "flow"})  # fmt: skip
        for n in range(_HISTORY_SENT):
            sent.append({"participant_id": pid, "channel": "sms", "to": phones[pid],
                         "body": "Earlier check-in text", "buttons": [], "status": "sent",
                         "not_before": at, "created_at": at, "claimed_at": at, "sent_at": at,
                         "provider_id": f"{HISTORY}{week}-{pid}-{n}", "attempts": 1,
                         "segments": 1})  # fmt: skip
    for model, rows in ((Answer, answers), (InboundMessage, inbound), (OutboxMessage, sent)):
        await db.execute(insert(model), rows)
    return len(sessions) + len(answers) + len(inbound) + len(sent)


class Provider:
    """``bench/provider.py`` in a process of its own."""

    def __init__(self, folder: Path, rate: float | None = None) -> None:
        self.port = free_port()
        self.log = folder / "provider.log"
        args = [sys.executable, str(ROOT / "bench" / "provider.py"), "--port", str(self.port)]
        if rate is not None:
            args += ["--rate", str(rate)]
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as client:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with client.get(self.url + "/_stats") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError("the fake provider did not start")

    async def stats(self, times: bool = False) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as client,
            client.get(self.url + "/_stats", params={"times": "1"} if times else {}) as response,
        ):
            result: dict[str, Any] = await response.json()
            return result

    async def mode(self, mode: str, slow: float = 1.0) -> None:
        async with (
            aiohttp.ClientSession() as client,
            client.post(self.url + "/_mode", json={"mode": mode, "slow": slow}) as response,
        ):
            assert response.status == 200

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)


def env_for(database_url: str, provider: Provider, **extra: str) -> dict[str, str]:
    return service_env(
        database_url,
        twilio_url=provider.url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        **extra,
    )


@dataclass
class Person:
    id: int
    phone: str
    step: int = 3  # 3: the check-in is over (or not started): start one before the next answer
    expected: int | None = None  # messages the provider should have taken for them by now


def percentile(
    ordered: Sequence[float], p: float, scale: float = 1.0, digits: int = 2
) -> float | None:
    """The value at fraction ``p`` of the sorted ``ordered`` (nearest rank), times ``scale``,
    rounded; None when there is none."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * scale, digits)


@dataclass
class Load:
    """What one driver run sent and what came back."""

    seconds: float = 0.0
    start_latencies: list[float] = field(default_factory=list)  # API flow starts, seconds
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    starts: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # MessageSid -> participant id
    # MessageSid -> (participant id, phone, body) of each message that got no 2xx
    refused: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    # (seconds since the start, status; 0 when no answer came)
    timeline: list[tuple[float, int]] = field(default_factory=list)
    # (seconds since the start when sent, round trip in seconds) of each answered webhook,
    # and of each reply waited for (``drive(replies=...)``: webhook sent to its reply taken
    # by the provider)
    latency_timeline: list[tuple[float, float]] = field(default_factory=list)
    reply_timeline: list[tuple[float, float]] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        """Webhook round trips, seconds."""
        return [latency for _, latency in self.latency_timeline]

    @property
    def reply_latencies(self) -> list[float]:
        return [latency for _, latency in self.reply_timeline]

    def summary(self) -> dict[str, Any]:
        ok = sum(n for s, n in self.statuses.items() if 200 <= s < 300)
        ordered = sorted(self.latencies)

        replies = sorted(self.reply_latencies)
        starts = sorted(self.start_latencies)

        def pct(p: float, ordered: list[float] = ordered) -> float | None:
            return percentile(ordered, p, scale=1000, digits=1)  # in milliseconds

        waited = (
            {
                "replied": len(replies),
                "replied_per_second": round(len(replies) / self.seconds, 1),
                "reply_p50_ms": pct(0.50, replies),
                "reply_p90_ms": pct(0.90, replies),
                "reply_p99_ms": pct(0.99, replies),
            }
            if replies
            else {}
        )
        return {
            "seconds": round(self.seconds, 1),
            "requests": sum(self.statuses.values()),
            "ok": ok,
            "per_second": round(ok / self.seconds, 1) if self.seconds else None,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else None,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "flow_starts": self.starts,
            "start_p50_ms": pct(0.50, starts),
            "start_p99_ms": pct(0.99, starts),
            **waited,
        }


_sids = itertools.count(1)
_run = random.Random().getrandbits(32)


def new_sid() -> str:
    return f"SM{_run:08x}{next(_sids):024x}"


def signed_webhook(sid: str, phone: str, body: str) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of an inbound SMS from ``phone``, signed as Twilio signs it."""
    params = inbound_params(ACCOUNT_SID, sid, phone, body)
    return encode_form(params), {**FORM, "X-Twilio-Signature": sign(AUTH_TOKEN, params)}


async def drive(
    base_url: str | Sequence[str],
    people: list[Person],
    *,
    seconds: float,
    connections: int = 32,
    restart_flows: bool = True,
    seed: int = 1,
    stop: asyncio.Event | None = None,
    during: Callable[[float], None] | None = None,
    rate: float | None = None,
    replies: str | None = None,
    openers: str | None = None,
) -> Load:
    """``connections`` clients answering check-ins for ``seconds``; one message at a time
    per participant. With ``rate``, messages are offered at that pace (an open loop, as
    phones would send them) instead of as fast as the service answers.

    With ``replies`` (the fake provider's URL), each client also waits until the
    provider has taken the reply (every step of ``sleep_checkin`` sends one message,
    its start two) before the person answers again, as a person reads the question
    first; without it the next answer follows the webhook's 2xx, and a sender that
    falls behind goes unseen. With ``openers`` (the provider's URL) a client waits only
    for a new check-in's first question (and every text before it) before answering it,
    as a person must, and answers the other questions at once.

    Several ``base_url``s (several ``serve`` processes on one PostgreSQL): each client
    keeps to one of them, the clients spread evenly; a person's next message may go to
    another, as a provider's retries and a load balancer would send it."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    rng = random.Random(seed)
    queue: asyncio.Queue[Person] = asyncio.Queue()
    for person in people:
        queue.put_nowait(person)
    load = Load()
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    began = time.perf_counter()
    deadline = began + seconds
    provider = replies or openers  # where a client asks what a person has been sent

    async def taken(client: aiohttp.ClientSession, person: Person) -> bool:
        """Wait for the provider to have ``person.expected`` messages for them."""
        assert provider is not None
        async with client.get(
            provider + "/_wait",
            params={"to": person.phone, "count": str(person.expected or 0), "timeout": "25"},
        ) as response:
            count = int((await response.json())["count"])
        reached = person.expected is None or count >= person.expected
        person.expected = count
        return reached

    async def start_next(
        client: aiohttp.ClientSession,
        waits: aiohttp.ClientSession | None,
        person: Person,
        base_url: str,
    ) -> bool:
        """The person's next check-in, started through the API; False if it was not (a
        killed process refuses the connection: they try again next time round)."""
        asked = time.perf_counter()
        try:
            async with client.post(
                f"{base_url}/api/participants/{person.id}/flows",
                json={"flow": "sleep_checkin"},
                headers=api,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            load.errors[f"start {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)
            return False
        if status != 202:
            load.errors[f"start {status}"] += 1
            return False
        load.start_latencies.append(time.perf_counter() - asked)
        load.starts += 1
        person.step = 0
        if waits is not None:
            person.expected = (person.expected or 0) + 2  # hello, first question
            if not await taken(waits, person):
                load.errors["no opening question within 25 s"] += 1
        return True

    async def one_message(
        client: aiohttp.ClientSession,
        waits: aiohttp.ClientSession | None,
        person: Person,
        base_url: str,
    ) -> None:
        if waits is not None and person.expected is None:
            await taken(waits, person)
        if (
            restart_flows
            and person.step >= len(ANSWERS)
            and not await start_next(client, waits, person, base_url)
        ):
            return
        body = ANSWERS[person.step % len(ANSWERS)](rng)
        sid = new_sid()
        data, headers = signed_webhook(sid, person.phone, body)
        sent = time.perf_counter()
        try:
            async with client.post(base_url + INBOUND_PATH, data=data, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            load.errors[type(exc).__name__] += 1
            load.refused[sid] = (person.id, person.phone, body)
            load.timeline.append((time.perf_counter() - began, 0))
            await asyncio.sleep(0.05)
            return
        load.latency_timeline.append((sent - began, time.perf_counter() - sent))
        load.statuses[status] += 1
        load.timeline.append((time.perf_counter() - began, status))
        if 200 <= status < 300:
            load.accepted[sid] = person.id
            person.step += 1
            if waits is not None:
                person.expected = (person.expected or 0) + 1
            if waits is not None and replies is not None:
                if await taken(waits, person):
                    load.reply_timeline.append((sent - began, time.perf_counter() - sent))
                else:
                    load.errors["no reply within 25 s"] += 1
        else:
            load.refused[sid] = (person.id, person.phone, body)

    pace = {"next": began}
    pacing = asyncio.Lock()

    async def wait_turn() -> None:
        async with pacing:
            pace["next"] += 1 / rate if rate else 0.0
            delay = pace["next"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)

    async def worker(
        client: aiohttp.ClientSession, waits: aiohttp.ClientSession | None, url: str
    ) -> None:
        while time.perf_counter() < deadline and not (stop and stop.is_set()):
            if rate:
                await wait_turn()
            person = await queue.get()
            try:
                await one_message(client, waits, person, url)
            finally:
                queue.put_nowait(person)
            if during is not None:
                during(time.perf_counter() - began)

    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as client,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections), timeout=timeout
        ) as waits,
    ):
        await asyncio.gather(
            *(
                worker(client, waits if provider else None, urls[n % len(urls)])
                for n in range(connections)
            )
        )
    load.seconds = time.perf_counter() - began
    return load


async def resend(base_url: str, load: Load, rounds: int = 20) -> int:
    """Send again, with the same MessageSid, every message that got no 2xx (as a provider
    retries); returns how many are still refused."""
    async with aiohttp.ClientSession() as client:
        for _ in range(rounds):
            for sid, (pid, phone, body) in list(load.refused.items()):
                data, headers = signed_webhook(sid, phone, body)
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with client.post(
                        base_url + INBOUND_PATH, data=data, headers=headers
                    ) as response:
                        if 200 <= response.status < 300:
                            load.accepted[sid] = pid
                            del load.refused[sid]
            if not load.refused:
                break
            await asyncio.sleep(1)
    return len(load.refused)


async def start_all(base_url: str, people: list[Person], connections: int = 16) -> None:
    """Put everyone mid-check-in before the clock starts (not measured)."""
    queue = list(people)
    api = {"Authorization": f"Bearer {API_TOKEN}"}

    async def worker(client: aiohttp.ClientSession) -> None:
        while queue:
            person = queue.pop()
            async with client.post(
                f"{base_url}/api/participants/{person.id}/flows",
                json={"flow": "sleep_checkin"},
                headers=api,
            ) as response:
                assert response.status == 202, await response.text()
                person.step = 0

    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))


async def stagger(base_url: str, people: list[Person], connections: int = 16) -> int:
    """Answer the first ``n % 3`` questions of person ``n``'s check-in before the load (not
    measured), so that their check-ins end, and the next ones start, spread over the
    load: started together, all of them ended in the same second and 1,000 flows were
    started at once, which held replies back by seconds (stop 26). How many answers."""
    rng = random.Random(2)
    queue = list(people)
    sent = 0

    async def worker(client: aiohttp.ClientSession) -> None:
        nonlocal sent
        while queue:
            person = queue.pop()
            for _ in range(person.id % len(ANSWERS)):
                data, headers = signed_webhook(new_sid(), person.phone, ANSWERS[person.step](rng))
                async with client.post(
                    base_url + INBOUND_PATH, data=data, headers=headers
                ) as response:
                    assert response.status == 200, await response.text()
                person.step += 1
                sent += 1

    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return sent


async def outbox_settled(
    engine: AsyncEngine,
    within: float,
    *,
    busy: tuple[str, ...] = ("pending", "claimed", "sending"),
    every: float = 1.0,
) -> dict[str, int]:
    """Wait until no outbox row has a ``busy`` status (or ``within`` seconds pass),
    looking every ``every`` seconds; returns the count of rows per status."""
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as db:
            rows = (
                await db.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            ).all()
        statuses = {status: count for status, count in rows}
        if not sum(statuses.get(s, 0) for s in busy) or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(every)


async def inbound_settled(engine: AsyncEngine, within: float) -> int:
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as db:
            waiting = int(
                await db.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
                or 0
            )
        if not waiting or time.monotonic() > deadline:
            return waiting
        await asyncio.sleep(1)


async def exactly_once(engine: AsyncEngine, load: Load, provider: Provider) -> dict[str, Any]:
    """Every 2xx'd message stored and processed once; every outbox row sent at most once,
    and every row not sent is flagged (uncertain/failed), never silently doubled."""
    async with engine.connect() as db:
        inbound = (
            await db.execute(
                select(
                    InboundMessage.provider_id,
                    InboundMessage.participant_id,
                    InboundMessage.processed_at,
                    InboundMessage.outcome,
                )
            )
        ).all()
        outbox = (
            await db.execute(
                select(OutboxMessage.id, OutboxMessage.status).where(
                    or_(
                        OutboxMessage.provider_id.is_(None),
                        OutboxMessage.provider_id.not_like(f"{HISTORY}%"),
                    )
                )
            )
        ).all()
    stored = Counter(r.provider_id for r in inbound)
    by_outbox = {int(k): v for k, v in (await provider.stats())["by_outbox"].items()}
    statuses = Counter(r.status for r in outbox)
    sent_rows = {r.id for r in outbox if r.status in ("sent", "delivered", "read")}
    uncertain = {r.id for r in outbox if r.status == "uncertain"}
    return {
        "accepted_webhooks": len(load.accepted),
        "accepted_not_stored": sum(1 for sid in load.accepted if stored[sid] == 0),
        "stored_twice": sum(1 for n in stored.values() if n > 1),
        "unprocessed": sum(1 for r in inbound if r.processed_at is None),
        "processing_errors": sum(1 for r in inbound if r.outcome == "error"),
        "outbox": dict(statuses),
        "sent_rows_not_at_provider": sum(1 for i in sent_rows if by_outbox.get(i, 0) == 0),
        "sent_twice": sum(1 for n in by_outbox.values() if n > 1),
        "uncertain_at_provider": sum(1 for i in uncertain if by_outbox.get(i, 0) >= 1),
        "uncertain_not_at_provider": sum(1 for i in uncertain if by_outbox.get(i, 0) == 0),
    }


async def taken_times(provider: Provider) -> dict[int, float]:
    """When the provider first took each outbox id, as wall-clock timestamps."""
    stats = await provider.stats(times=True)
    offset = stats["clock"]["wall"] - stats["clock"]["monotonic"]
    return {int(k): at + offset for k, at in stats["taken_at"].items()}


async def reply_delays(
    engine: AsyncEngine,
    provider: Provider,
    since: datetime,
    until: datetime,
    people: Collection[int] | None = None,
) -> dict[str, Any]:
    """How long the texts queued between ``since`` and ``until`` waited, from their row's
    ``created_at`` to the provider taking them: what a participant waits for the next
    question, which the webhook's latency does not show when the sender falls behind.
    ``people``: only the texts to these participants. ``by_lane``: the same for each
    lane (``bot.outbox.lanes``), as an answer's reply and a new check-in's opening
    question wait in different queues."""
    taken = await taken_times(provider)
    async with engine.connect() as db:
        rows = (
            await db.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.participant_id,
                    OutboxMessage.lane,
                    OutboxMessage.created_at,
                ).where(OutboxMessage.created_at >= since, OutboxMessage.created_at <= until)
            )
        ).all()
    if people is not None:
        rows = [r for r in rows if r.participant_id in people]
    lanes: dict[str, list[Row[Any]]] = {}
    for row in rows:
        lanes.setdefault(LANE_NAMES.get(row.lane, str(row.lane)), []).append(row)
    return {
        **_waits(rows, taken, since),
        "by_lane": {name: _waits(theirs, taken, since) for name, theirs in sorted(lanes.items())},
    }


def by_second(pairs: Iterable[tuple[float, float]]) -> dict[int, list[float]]:
    """(seconds since the start, value) pairs grouped by the whole second, in order."""
    grouped: dict[int, list[float]] = {}
    for at, value in pairs:
        grouped.setdefault(int(at), []).append(value)
    return dict(sorted(grouped.items()))


def _waits(rows: Sequence[Row[Any]], taken: dict[int, float], since: datetime) -> dict[str, Any]:
    pairs = [
        ((r.created_at - since).total_seconds(), taken[r.id] - r.created_at.timestamp())
        for r in rows
        if r.id in taken
    ]
    waited = sorted(delay for _, delay in pairs)
    return {
        "queued": len(rows),
        "not_taken": len(rows) - len(waited),
        "p50_s": percentile(waited, 0.50),
        "p90_s": percentile(waited, 0.90),
        "p99_s": percentile(waited, 0.99),
        "max_s": round(waited[-1], 2) if waited else None,
        # the median wait of the texts queued in each second of the load, in order
        "p50_s_by_second": [
            round(statistics.median(delays), 2) for delays in by_second(pairs).values()
        ],
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """RSS and CPU use of a process, sampled in the background."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._cpu = cpu_seconds(pid)
        self._began = time.perf_counter()

    async def _run(self) -> None:
        while True:
            self.samples.append(rss_mb(self.pid))
            await asyncio.sleep(self.every)

    def start(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self.samples:
            return {}
        busy = (cpu_seconds(self.pid) - self._cpu) / (time.perf_counter() - self._began)
        return {"rss_start_mb": round(self.samples[0], 1), "rss_peak_mb": round(max(self.samples), 1),
                "rss_end_mb": round(self.samples[-1], 1), "cpu_cores_used": round(busy, 2)}  # fmt: skip


def _role(pid: int, cmdline: str) -> str:
    if pid == os.getpid():
        return "load_generator"
    for marker, role in (("-m bot serve", "serve"), ("-m bot worker", "worker"),
                         ("bench/provider.py", "fake_provider")):  # fmt: skip
        if marker in cmdline:
            return role
    return "postgresql" if cmdline.startswith("postgres") else "other"


def _cpu_by_role() -> tuple[dict[int, tuple[str, float]], float, float]:
    """Every process's CPU seconds so far, with its role; the machine's busy and idle seconds."""
    processes: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        processes[int(entry.name)] = (_role(int(entry.name), cmdline), cpu_seconds(int(entry.name)))
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = (ticks[3] + ticks[4]) / tick
    return processes, sum(ticks) / tick - idle, idle


class MachineCpu:
    """Cores each kind of process used over a stretch (``/proc``): where the machine's two
    cores went while the load ran, and how much of them stayed idle (Linux only)."""

    def __init__(self) -> None:
        self._began = time.perf_counter()
        self._before = _cpu_by_role() if Path("/proc/stat").exists() else None

    def stop(self) -> dict[str, float]:
        if self._before is None:
            return {}
        seconds = time.perf_counter() - self._began
        before, busy_before, idle_before = self._before
        after, busy_after, idle_after = _cpu_by_role()
        used: Counter[str] = Counter()
        for pid, (role, cpu) in after.items():
            used[role] += cpu - before.get(pid, (role, 0.0))[1]
        cores = {role: round(value / seconds, 2) for role, value in used.most_common()}
        cores["machine_busy"] = round((busy_after - busy_before) / seconds, 2)
        cores["machine_idle"] = round((idle_after - idle_before) / seconds, 2)
        return cores


class Profiler:
    """py-spy on a running process (``--nonblocking``: it never pauses the service)."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.out = out
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.popen = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "67",
             "--nonblocking", "--gil", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def finish(self, top: int = 25) -> list[tuple[str, float, float]]:
        """(function, inclusive %, own %), heaviest inclusive first."""
        self.popen.wait(60)
        return summarise_profile(self.out, top)


def cpu_parser(doc: str | None, participants: int) -> argparse.ArgumentParser:
    """The options every CPU-per-unit script shares (``turns_cpu``, ``send_cpu``)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    engine_arguments(p)
    p.add_argument("--participants", type=int, default=participants)
    p.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print the top N by own time"
    )
    return p


def profile_lines(profiler: cProfile.Profile, top: int, ours: str) -> list[str]:
    """cProfile's top ``top`` by own time, then ``ours`` (a regex) by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(ours, top)
    return out.getvalue().splitlines()


def summarise_profile(path: Path, top: int = 25) -> list[tuple[str, float, float]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  for f in stack.split(";") if f]  # fmt: skip
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    return [
        (frame, round(100 * n / total, 1), round(100 * own[frame] / total, 1))
        for frame, n in inclusive.most_common(top)
    ]


async def stop_all(processes: list[ServiceProcess]) -> None:
    await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes))


@contextlib.asynccontextmanager
async def scratch(keep: bool = False) -> AsyncIterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="checkins-bench-"))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--database`` and ``--postgres-url``, as every script that makes a database takes them."""
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server to create a DB on")


@dataclass
class SendingRig:
    """A scratch database, the fake provider, and the workers started against them."""

    folder: Path
    db: Database
    engine: AsyncEngine
    provider: Provider
    workers: list[ServiceProcess] = field(default_factory=list)

    async def worker(self, **extra: str) -> ServiceProcess:
        """One ``python -m bot worker`` sending to the fake provider, once it is ready."""
        env = env_for(self.db.url, self.provider, **extra)
        worker = ServiceProcess("worker", env, self.folder / "worker.log").start()
        self.workers.append(worker)
        await worker.ready(within=120)
        return worker


@contextlib.asynccontextmanager
async def sending_rig(
    args: argparse.Namespace, name: str, provider_rate: float | None, keep: bool = False
) -> AsyncIterator[SendingRig]:
    """Everything a sending benchmark starts, stopped and dropped however it ends."""
    async with scratch(keep=keep) as folder:
        db = await Database.create(args.database, folder, args.postgres_url, name)
        rig = SendingRig(folder, db, db.engine(), Provider(folder, rate=provider_rate))
        try:
            yield rig
        finally:
            await stop_all(rig.workers)
            rig.provider.stop()
            await rig.engine.dispose()
            if not keep:
                await db.drop()


def emit(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, indent=2, default=str), flush=True)


async def count_rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as db:
        return int(await db.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def batch_sizes(base_url: str) -> dict[str, float]:
    """Mean inbound batch size and batch count, from the service's own ``/metrics``."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/metrics") as response:
        body = await response.text()
    values: dict[str, float] = {}
    for line in body.splitlines():
        name, _, value = line.partition(" ")
        if name in ("checkins_inbound_batch_size_sum", "checkins_inbound_batch_size_count"):
            values[name.rsplit("_", 1)[-1]] = float(value)
    count = values.get("count", 0.0)
    return {
        "batches": count,
        "mean_batch": round(values.get("sum", 0.0) / count, 1) if count else 0.0,
    }
