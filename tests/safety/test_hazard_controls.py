"""Hazard-log controls (docs/safety/hazard-log.md) that no other part of the suite proved.

Each test names the hazard it stands for; the log cites them by name.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.engine import Flow, load_flow_dir
from bot.host.services import Services
from bot.i18n.catalogs import Catalogs, load_catalogs
from bot.i18n.languages import LANGUAGES
from bot.outbox.sender import claim_rows
from bot.store.models import Escalation, InboundMessage, OutboxMessage
from tests.channels.conftest import Stack
from tests.channels.conftest import fake_telegram as fake_telegram
from tests.channels.conftest import fake_twilio as fake_twilio
from tests.channels.conftest import make_stack as make_stack
from tests.channels.conftest import stack as stack
from tests.dashboard.conftest import client as client
from tests.dashboard.helpers import Client, login
from tests.escalations.helpers import add_staff
from tests.flows.harness import play
from tests.host.helpers import escalations, flush, make_participant, outbox, refreshed, say
from tests.host.test_outbox import RecordingChannel
from tests.host.test_startup import broken_copy

ROOT = Path(__file__).resolve().parents[2]
CRISIS = "I want to end my life"


# HZ-01: the escalation is committed before the webhook answers.


async def test_urgent_escalation_is_committed_before_the_webhook_answers(stack: Stack) -> None:
    person = await stack.participant()
    response = await stack.sms(person.phone or "", CRISIS)
    assert response.status == 200
    # A fresh engine-level session, opened only after the answer: what a crash right
    # after the 200 would leave behind is exactly what is committed now.
    async with stack.services.sessions() as db:
        items = list(
            await db.scalars(select(Escalation).where(Escalation.participant_id == person.id))
        )
        inbound = list(await db.scalars(select(InboundMessage)))
    assert [(e.priority, e.status) for e in items] == [("urgent", "open")]
    assert items[0].inbound_id == inbound[0].id and inbound[0].processed_at is not None
    crisis = [m for m in await stack.outbox(person.id) if m.kind == "crisis"]
    assert len(crisis) == 1 and crisis[0].status == "pending"  # queued in the same commit


# HZ-01: a crisis reply is not queued behind a backlog of scheduled messages.


async def test_crisis_reply_goes_before_a_backlog_of_scheduled_messages(stack: Stack) -> None:
    """A fan-out leaves hundreds of check-ins waiting for the provider's rate; the crisis
    reply written after them is the first row the sender takes."""
    now = stack.clock.now()
    async with stack.services.sessions() as db, db.begin():
        for n in range(300):
            db.add(
                OutboxMessage(
                    participant_id=None, channel="sms", to=f"+44791100{n:04d}",
                    body="Time for your check-in.", buttons=[], status="pending",
                    kind="flow", not_before=now, created_at=now,
                )
            )  # fmt: skip
    person = await stack.participant()
    assert (await stack.sms(person.phone or "", CRISIS)).status == 200
    first = await claim_rows(stack.services, limit=1)
    assert [(row.kind, row.to) for row in first] == [("crisis", person.phone)]


# HZ-01: crisis replies are never held for quiet hours or a pause.


async def test_crisis_reply_is_not_held_for_quiet_hours_or_a_pause(
    services: Services, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, CRISIS)  # the first crisis pauses check-ins
    assert (await refreshed(services, person)).status == "paused"
    await flush(services)
    clock.set(datetime(2026, 3, 2, 23, 40, tzinfo=UTC))  # inside the default quiet hours
    await say(services, person, CRISIS)
    crisis = [m for m in await outbox(services, person) if m.kind == "crisis"]
    assert len(crisis) == 2
    assert crisis[-1].not_before == clock.now()
    await flush(services)
    sent = [m for m in await outbox(services, person) if m.kind == "crisis"]
    assert [m.status for m in sent] == ["sent", "sent"]
    assert len([m for m in channel.sent if m.outbox_id == sent[-1].id]) == 1


# HZ-05: the enrolment conversation says the service is not watched all the time.


@pytest.fixture(scope="module")
def real_flows() -> dict[str, Flow]:
    loaded, errors = load_flow_dir(ROOT / "flows")
    assert errors == []
    return loaded


@pytest.fixture(scope="module")
def real_catalogs() -> Catalogs:
    return load_catalogs(ROOT / "translations")


NOT_EMERGENCY = (
    "This is not an emergency service. In an emergency call 999. For urgent help that is "
    "not an emergency, call NHS 111."
)
WORKING_HOURS = (
    "We will text you once or twice a week with a short question. Your coach reads your "
    "replies in working hours."
)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_onboarding_says_not_watched_all_the_time_and_gives_999(
    language: str, real_flows: dict[str, Flow], real_catalogs: Catalogs
) -> None:
    for step_id in ("how_often", "not_emergency"):
        assert step_id in real_flows["onboarding"].steps, f"onboarding lost {step_id!r}"
    run = play(
        real_flows,
        "onboarding",
        ["wait"],  # no language chosen: on to the welcome texts and the consent question
        language=language,
        fields={"name": "Amina", "language": language},
        tr=real_catalogs,
    )
    said = run.messages
    hours = real_catalogs.text(language, "onboarding.how_often", WORKING_HOURS)
    emergency = real_catalogs.text(language, "onboarding.not_emergency", NOT_EMERGENCY)
    if language != "en":
        assert hours != WORKING_HOURS and emergency != NOT_EMERGENCY, "untranslated"
    assert any(hours in message for message in said)
    assert any(emergency in message and "999" in message for message in said)


# HZ-02: a dashboard concern item shows the message that raised it.


async def test_a_concern_item_shows_the_message_that_raised_it(
    client: Client,
    services: Services,
) -> None:
    coach = await add_staff(services, "coach", "concern@example.org", name="Sam")
    person = await make_participant(services, coach=coach.id)
    await say(services, person, "I keep imagining my own funeral")
    (opened,) = await escalations(services, person.id)
    assert (opened.priority, opened.source) == ("high", "safety:concern")
    await login(client, "concern@example.org")
    page = await client.get(f"/items/{opened.id}")
    html = await page.text()
    assert page.status == 200
    assert "I keep imagining my own funeral" in html and "caused this item" in html


# HZ-09: `python -m bot flows check` reports broken safety data as an error (CI fails).


def test_flows_check_reports_broken_safety_data_as_an_error(tmp_path: Path) -> None:
    tree = broken_copy(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "flows", "check"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "error" in result.stdout and "safety data cannot be loaded" in result.stdout
    assert "crisis.yaml" in result.stdout
