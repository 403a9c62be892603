"""The real app on SQLite, with Twilio and Telegram configured, for property tests of its edges.

No workers run: nothing is sent. Providers are never called (the base URLs point
at a closed loopback port), so the tests measure only what the webhooks do.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, Services, build_services
from bot.staff.participants import create_participant
from bot.store.models import Participant
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.fakes.server import unused_port
from tests.fakes.telegram import BOT_TOKEN
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN

PUBLIC_URL = "https://checkins.example.org"
SECRET = "fuzz-telegram-secret"
PHONE = "+447911123401"
CHAT_ID = 555001
API_TOKEN = "test-token"


@dataclass
class Edge:
    """The app under test and the participant whose messages it receives."""

    services: Services
    client: TestClient[Any, Any]
    participant: Participant

    def signature(self, path: str, fields: MultiDict[str]) -> str:
        return str(RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, fields))


def server_errors(records: list[logging.LogRecord]) -> list[str]:
    """Log lines that mean an exception escaped or a message could not be handled."""
    return [f"{r.name}: {r.getMessage()[:200]}" for r in records if r.levelno >= logging.ERROR]


@pytest.fixture
async def edge(
    sqlite_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> AsyncIterator[Edge]:
    dead = f"http://127.0.0.1:{unused_port()}"
    settings = make_settings(
        sqlite_url,
        public_url=PUBLIC_URL,
        api_token=API_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_sms_from="+447700900001",
        twilio_api_base_url=dead,
        telegram_bot_token=BOT_TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base_url=dead + "/bot",
    )
    services = build_services(settings, clock=clock, flows=flow_library)
    async with services.sessions() as db, db.begin():
        participant = await create_participant(
            db,
            {"phone": PHONE, "channel": "sms", "language": "en", "consent": True, "name": "Sam"},
            clock.now(),
            "test",
        )
        chat = await create_participant(
            db, {"channel": "telegram", "language": "en", "consent": True}, clock.now(), "test"
        )
        chat.telegram_chat_id = str(CHAT_ID)
    app = create_app(services, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield Edge(services, client, participant)
