"""The whole service wired to local fake providers, driven through its real webhooks."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.clock import FixedClock
from bot.engine import parse_flow
from bot.host.outbox import enqueue
from bot.host.services import FlowLibrary, Services, build_services
from bot.outbox.sender import send_due
from bot.staff.participants import create_participant
from bot.store.models import Escalation, InboundMessage, OutboxMessage, Participant
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

PUBLIC_URL = "https://checkins.example.org"
SMS_FROM = "+447700900001"
WHATSAPP_FROM = "+447700900002"
TELEGRAM_SECRET = "telegram-webhook-secret_123"

MOOD_FLOW = """
id: mood_check
version: 1
title: Mood
description: A one-question check-in for channel tests.
expires_after: 12h
steps:
  - id: mood
    ask: "How are you today?"
    type: choice
    options:
      - value: good
        label: "Good"
      - value: ok
        label: "OK"
      - value: bad
        label: "Bad"
    save: mood
    timeout: 4h
    on_timeout: done
  - id: thanks
    say: "Thank you."
  - id: done
    end: completed
"""
ONBOARDING_FLOW = """
id: onboarding
version: 1
title: Welcome
description: The first message after linking, for channel tests.
expires_after: 1d
steps:
  - id: hello
    say: "Welcome to your check-in texts."
    end: completed
"""
_phones = itertools.count(10)


class HandClock:
    """A seconds clock (``time.monotonic``, ``time.time``) moved by hand: ``clock.now += 0.5``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def channel_flows() -> FlowLibrary:
    flows = [parse_flow(MOOD_FLOW), parse_flow(ONBOARDING_FLOW)]
    return FlowLibrary({f.id: f for f in flows})


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.close()


@dataclass
class Stack:
    services: Services
    client: TestClient[web.Request, web.Application]
    twilio: FakeTwilio
    telegram: FakeTelegram
    clock: FixedClock

    async def twilio_post(
        self,
        params: dict[str, str],
        *,
        path: str = "/webhooks/twilio",
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """POST a form as Twilio does, signed for the public URL unless told otherwise."""
        if signature is None:
            signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
        all_headers = {"X-Twilio-Signature": signature, **(headers or {})}
        return await self.client.post(path, data=params, headers=all_headers)

    async def sms(self, sender: str, body: str | None, sid: str | None = None, **extra: str) -> Any:
        params = {
            "MessageSid": sid or new_sid(),
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": SMS_FROM,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
            **extra,
        }
        if body is not None:
            params["Body"] = body
        return await self.twilio_post(params)

    async def whatsapp(
        self, sender: str, body: str | None, sid: str | None = None, **extra: str
    ) -> Any:
        params = {
            "MessageSid": sid or new_sid(),
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{sender}",
            "To": f"whatsapp:{WHATSAPP_FROM}",
            "NumMedia": "0",
            "ProfileName": "Sam",
            "WaId": sender.lstrip("+"),
            "MessageType": "text",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
            **extra,
        }
        if body is not None:
            params["Body"] = body
        return await self.twilio_post(params)

    async def status(
        self, sid: str, status: str, *, outbox_id: int | None = None, error: str | None = None
    ) -> Any:
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": "+447911000000",
            "From": SMS_FROM,
            "ApiVersion": "2010-04-01",
        }
        if error:
            params["ErrorCode"] = error
        path = "/webhooks/twilio/status" + (f"?outbox={outbox_id}" if outbox_id is not None else "")
        return await self.twilio_post(params, path=path)

    async def telegram_post(self, update: Any, *, secret: str | None = TELEGRAM_SECRET) -> Any:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.client.post("/webhooks/telegram", json=update, headers=headers)

    async def flush(self) -> None:
        """Send everything due now (as the outbox worker would)."""
        while await send_due(self.services):
            pass

    async def participant(self, **overrides: Any) -> Participant:
        data: dict[str, Any] = {
            "phone": f"+4479111{next(_phones):05d}",
            "channel": "sms",
            "language": "en",
            "consent": True,
        }
        data.update(overrides)
        if data["channel"] == "telegram" and "phone" not in overrides:
            data.pop("phone")
        async with self.services.sessions() as db, db.begin():
            return await create_participant(db, data, self.services.clock.now(), "test")

    async def refreshed(self, participant: Participant) -> Participant:
        async with self.services.sessions() as db:
            fresh = await db.get(Participant, participant.id)
            assert fresh is not None
            return fresh

    async def outbox(self, participant_id: int | None = None) -> list[OutboxMessage]:
        async with self.services.sessions() as db:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if participant_id is not None:
                query = query.where(OutboxMessage.participant_id == participant_id)
            return list(await db.scalars(query))

    async def enqueue(self, person: Participant, body: str, kind: str) -> int:
        """Queue one outbound message for ``person`` (as stored now), due now; its row id."""
        async with self.services.sessions() as db, db.begin():
            fresh = await db.get(Participant, person.id)
            assert fresh is not None
            row = enqueue(db, fresh, body, now=self.clock.now(), kind=kind)
            assert row is not None
            await db.flush()
            return row.id

    async def outbox_row(self, row_id: int) -> OutboxMessage:
        async with self.services.sessions() as db:
            row = await db.get(OutboxMessage, row_id)
            assert row is not None
            return row

    async def inbound(self) -> list[InboundMessage]:
        async with self.services.sessions() as db:
            return list(await db.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    async def escalations(self, participant_id: int | None = None) -> list[Escalation]:
        async with self.services.sessions() as db:
            query = select(Escalation).order_by(Escalation.id)
            if participant_id is not None:
                query = query.where(Escalation.participant_id == participant_id)
            return list(await db.scalars(query))


_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(
    database_url: str,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
    fake_telegram: FakeTelegram,
    aiohttp_client: Any,
) -> StackFactory:
    """Build the app with the fakes behind it; overrides change settings (rates, templates...)."""

    async def build(**overrides: Any) -> Stack:
        values: dict[str, Any] = {
            "public_url": PUBLIC_URL,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_sms_from": SMS_FROM,
            "twilio_whatsapp_from": WHATSAPP_FROM,
            "twilio_api_base_url": fake_twilio.url,
            "telegram_bot_token": BOT_TOKEN,
            "telegram_webhook_secret": TELEGRAM_SECRET,
            "telegram_api_base_url": fake_telegram.api_base,
            "provider_timeout": 5.0,  # tests of lost answers pass a short one
            "twilio_sms_rate": 1000.0,
            "twilio_whatsapp_rate": 1000.0,
            "telegram_chat_rate": 1000.0,
            "telegram_overall_rate": 1000.0,
        }
        values.update(overrides)
        services = build_services(
            make_settings(database_url, **values), clock=clock, flows=channel_flows()
        )
        client = await aiohttp_client(create_app(services, run_workers=False))
        return Stack(services, client, fake_twilio, fake_telegram, clock)

    return build


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()
