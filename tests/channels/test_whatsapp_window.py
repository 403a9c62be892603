"""WhatsApp's 24-hour window: free-form inside, approved templates outside, SMS only with consent."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.errors import ConfigError
from bot.outbox.whatsapp import load_templates, parse_templates, template_gaps
from bot.store.models import Answer, AuditEntry, Consent
from tests.channels.conftest import SMS_FROM, WHATSAPP_FROM, Stack, StackFactory

AUTH = {"Authorization": "Bearer test-token"}
MOOD_EN = "HX" + "a" * 32
MOOD_UR = "HX" + "b" * 32


@pytest.fixture
def templates_file(tmp_path: Path) -> str:
    path = tmp_path / "whatsapp_templates.yaml"
    path.write_text(
        f"""
mood_check:
  en:
    content_sid: {MOOD_EN}
    variables: {{"1": "{{name}}"}}
  ur: {MOOD_UR}
""",
        encoding="utf-8",
    )
    return str(path)


async def _start(stack: Stack, participant_id: int) -> None:
    response = await stack.client.post(
        f"/api/participants/{participant_id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    assert response.status == 202


async def test_inside_the_window_messages_are_free_form(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    await stack.whatsapp(person.phone or "", "hi")
    await stack.flush()
    stack.clock.advance(timedelta(hours=23, minutes=59))
    await _start(stack, person.id)
    await stack.flush()
    last = stack.twilio.requests[-1]
    assert last.form["To"] == f"whatsapp:{person.phone}"
    assert last.form["From"] == f"whatsapp:{WHATSAPP_FROM}"
    assert last.form["Body"].startswith("How are you today?") and "ContentSid" not in last.form


async def test_outside_the_window_a_check_in_goes_as_its_template(
    make_stack: StackFactory, templates_file: str
) -> None:
    stack = await make_stack(whatsapp_templates=templates_file)
    person = await stack.participant(channel="whatsapp", name="Sam Khan")
    await stack.whatsapp(person.phone or "", "hi")
    await stack.flush()
    stack.clock.advance(timedelta(hours=24, minutes=1))
    await _start(stack, person.id)
    await stack.flush()
    template = stack.twilio.requests[-1].form
    assert template["ContentSid"] == MOOD_EN and "Body" not in template
    assert json.loads(template["ContentVariables"]) == {"1": "Sam"}

    # Their button press opens the window again: the answer counts, the reply is free-form.
    await stack.whatsapp(person.phone or "", "Good", ButtonPayload="good", ButtonText="Good")
    await stack.flush()
    assert stack.twilio.requests[-1].form["Body"] == "Thank you."
    async with stack.services.sessions() as db:
        saved = list(
            await db.scalars(select(Answer.value).where(Answer.participant_id == person.id))
        )
    assert saved == ["good"]


async def test_a_template_without_variables_sends_no_content_variables(
    make_stack: StackFactory, templates_file: str
) -> None:
    stack = await make_stack(whatsapp_templates=templates_file)
    person = await stack.participant(channel="whatsapp", language="ur")
    await _start(stack, person.id)  # never wrote: the window was never open
    await stack.flush()
    [request] = stack.twilio.requests
    assert request.form["ContentSid"] == MOOD_UR and "ContentVariables" not in request.form


async def test_without_a_template_it_falls_back_to_sms_only_with_sms_consent(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    async with stack.services.sessions() as db, db.begin():
        db.add(
            Consent(
                participant_id=person.id,
                channel="sms",
                given=True,
                how="form",
                at=stack.clock.now(),
            )
        )
    await _start(stack, person.id)
    await stack.flush()
    [request] = stack.twilio.requests
    assert (request.form["To"], request.form["From"]) == (person.phone, SMS_FROM)
    [row] = await stack.outbox(person.id)
    assert (row.channel, row.status) == ("sms", "sent")
    async with stack.services.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert "outbox.sms_fallback" in actions


async def test_without_a_template_or_sms_consent_it_fails_and_staff_are_told(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp", language="pl")
    await _start(stack, person.id)
    await stack.flush()
    assert stack.twilio.requests == []
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("failed", "no_template")
    assert "no approved template is configured for mood_check in pl" in (row.error or "")
    [item] = await stack.escalations(person.id)
    assert "WhatsApp" in item.reason and "no SMS consent" in item.reason


async def test_a_63016_from_whatsapp_is_recorded_and_not_retried(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    await stack.whatsapp(person.phone or "", "hi")
    stack.twilio.fail_next("63016")
    await stack.flush()
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("failed", "63016")
    assert len(stack.twilio.requests) == 1


def test_template_files_are_checked_at_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mood_check:\n  en: not-a-content-sid\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="content_sid"):
        load_templates(str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        load_templates(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="ambiguous"):
        parse_templates({"mood_check": {"pa": MOOD_EN}})


def test_flows_check_can_list_the_missing_templates() -> None:
    templates = parse_templates({"mood_check": {"en": MOOD_EN}, "*": {"ur": MOOD_UR}})
    gaps = template_gaps(templates, ["mood_check", "sleep_checkin"], ["en", "ur", "pl"])
    assert gaps == [("mood_check", "pl"), ("sleep_checkin", "en"), ("sleep_checkin", "pl")]
