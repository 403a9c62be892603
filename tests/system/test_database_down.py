"""When the database does not answer, nothing says 2xx: webhooks and the API answer 503 (the
provider or client tries again), /healthz says so, and no log line carries what was posted.

The service is pointed at a PostgreSQL address where nothing listens, so this needs no
server and runs in every test run; bench/faults.py cuts a live one under load.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, build_services
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.fakes.server import unused_port
from tests.fakes.telegram import BOT_TOKEN, text_update
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN

PUBLIC_URL = "https://checkins.example.org"
SECRET = "down-telegram-secret"
PHONE = "+447911123401"
TEXT = "a message that must not be lost"


@pytest.fixture
async def client(
    clock: FixedClock, flow_library: FlowLibrary
) -> AsyncIterator[TestClient[Any, Any]]:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/checkins"
    settings = make_settings(
        nowhere,
        public_url=PUBLIC_URL,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_sms_from="+447700900001",
        telegram_bot_token=BOT_TOKEN,
        telegram_webhook_secret=SECRET,
    )
    services = build_services(settings, clock=clock, flows=flow_library)
    async with TestClient(TestServer(create_app(services, run_workers=False))) as test_client:
        yield test_client


async def test_without_a_database_every_entry_point_answers_503_and_logs_no_content(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    form = [("MessageSid", "SMdown1"), ("From", PHONE), ("Body", TEXT)]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_URL + "/webhooks/twilio", MultiDict(form)
    )
    twilio = await client.post(
        "/webhooks/twilio",
        data=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    telegram = await client.post(
        "/webhooks/telegram",
        json=text_update(77, 4242, TEXT),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    api = await client.post(
        "/api/participants/1/flows",
        json={"flow": "sleep_checkin"},
        headers={"Authorization": "Bearer test-token"},
    )
    health = await client.get("/healthz")
    assert [twilio.status, telegram.status, api.status, health.status] == [503, 503, 503, 503]
    assert (await api.json())["error"]["code"] == "database_unavailable"
    for record in caplog.records:
        line = record.getMessage() + " ".join(map(str, vars(record).values()))
        assert PHONE not in line and TEXT not in line, record.name
