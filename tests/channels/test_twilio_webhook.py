"""POST /webhooks/twilio with real signatures: stored once, answered with empty TwiML."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.host import replies
from bot.store.models import Answer
from tests.channels.conftest import PUBLIC_URL, SMS_FROM, WHATSAPP_FROM, Stack, new_sid
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN

EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def test_a_signed_sms_is_stored_processed_and_answered_with_empty_twiml(stack: Stack) -> None:
    person = await stack.participant()
    response = await stack.sms(person.phone or "", "help")
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert await response.text() == EMPTY
    [row] = await stack.inbound()
    assert (row.channel, row.participant_id, row.outcome) == ("sms", person.id, "help")
    await stack.flush()
    [request] = stack.twilio.requests
    [sent] = await stack.outbox(person.id)
    assert request.form["To"] == person.phone and request.form["From"] == SMS_FROM
    assert request.form["Body"] == replies.reply(stack.services.catalogs, "en", replies.HELP)
    assert request.form["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/status?outbox={sent.id}"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert (sent.status, sent.provider_id, sent.segments) == ("sent", request.sid, 1)


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "bm90IGEgc2lnbmF0dXJl",  # wrong
        # signed for the URL the app sees behind the proxy, not the public one
        RequestValidator(AUTH_TOKEN).compute_signature(
            "http://127.0.0.1:8080/webhooks/twilio",
            {"MessageSid": "SM1", "From": "+447911000001", "Body": "hi"},
        ),
        # signed with another account's token
        RequestValidator("another-token").compute_signature(
            PUBLIC_URL + "/webhooks/twilio",
            {"MessageSid": "SM1", "From": "+447911000001", "Body": "hi"},
        ),
    ],
)
async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    stack: Stack, signature: str
) -> None:
    await stack.participant(phone="+447911000001")
    params = {"MessageSid": "SM1", "From": "+447911000001", "Body": "hi"}
    headers = {} if signature else {"X-Twilio-Signature": ""}
    response = await stack.twilio_post(params, signature=signature, headers=headers)
    assert response.status == 403
    assert await stack.inbound() == []
    assert await stack.outbox() == []


async def test_a_field_changed_after_signing_is_refused(stack: Stack) -> None:
    params = {"MessageSid": new_sid(), "From": "+447911000002", "Body": "7"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_URL + "/webhooks/twilio", params
    )
    response = await stack.twilio_post({**params, "Body": "STOP"}, signature=signature)
    assert response.status == 403 and await stack.inbound() == []


async def test_the_signature_covers_the_public_url_with_its_query(stack: Stack) -> None:
    """Behind TLS termination the app sees http://127.0.0.1; Twilio signed PUBLIC_URL + path + query."""
    person = await stack.participant()
    params = {
        "MessageSid": new_sid(),
        "From": person.phone or "",
        "Body": "hello",
        "NewParamTwilioAdded": "x",
    }
    path = "/webhooks/twilio?source=fallback&n=1"
    response = await stack.twilio_post(params, path=path, headers={"X-Forwarded-Proto": "https"})
    assert response.status == 200
    assert len(await stack.inbound()) == 1


@pytest.mark.parametrize(
    ("signed_for", "status"),
    [
        (PUBLIC_URL, 200),  # as configured: one signature computed
        (PUBLIC_URL + ":443", 200),  # with the port, as Twilio sometimes signs
        ("https://another.example.org", 403),
    ],
)
async def test_a_signature_for_the_url_with_or_without_its_port_is_accepted(
    stack: Stack, signed_for: str, status: int
) -> None:
    person = await stack.participant()
    params = {"MessageSid": new_sid(), "From": person.phone or "", "Body": "hello"}
    path = "/webhooks/twilio"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_for + path, params)
    response = await stack.twilio_post(params, path=path, signature=signature)
    assert response.status == status
    assert len(await stack.inbound()) == (1 if status == 200 else 0)


async def test_the_same_message_sid_twice_is_processed_once(stack: Stack) -> None:
    person = await stack.participant()
    sid = new_sid()
    first = await stack.sms(person.phone or "", "help", sid=sid)
    second = await stack.sms(person.phone or "", "help", sid=sid)  # Twilio's retry / fallback URL
    assert first.status == second.status == 200
    assert await second.text() == EMPTY
    assert len(await stack.inbound()) == 1
    await stack.flush()
    assert len(stack.twilio.requests) == 1


async def test_a_whatsapp_sender_is_stored_as_e164_on_the_whatsapp_channel(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    response = await stack.whatsapp(person.phone or "", "hello")
    assert response.status == 200
    [row] = await stack.inbound()
    assert (row.channel, row.sender, row.participant_id) == ("whatsapp", person.phone, person.id)


async def test_a_media_only_message_becomes_an_item_for_the_coach(stack: Stack) -> None:
    person = await stack.participant()
    extra = {
        "NumMedia": "1",
        "MediaContentType0": "audio/ogg",
        "MediaUrl0": "https://api.twilio.com/media/ME1",
    }
    response = await stack.sms(person.phone or "", None, **extra)
    assert response.status == 200
    [row] = await stack.inbound()
    assert (row.media_count, row.outcome) == (1, "media")
    [item] = await stack.escalations(person.id)
    assert "needs a person" in item.reason


async def test_a_whatsapp_button_press_counts_as_the_answer(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    await stack.whatsapp(person.phone or "", "hi")  # opens the 24-hour window
    started = await stack.client.post(
        f"/api/participants/{person.id}/flows",
        json={"flow": "mood_check"},
        headers={"Authorization": "Bearer test-token"},
    )
    assert started.status == 202
    await stack.flush()
    press = {"ButtonPayload": "bad", "ButtonText": "Bad", "MessageType": "button"}
    assert (await stack.whatsapp(person.phone or "", "Bad", **press)).status == 200
    async with stack.services.sessions() as db:
        saved = list(await db.scalars(select(Answer).where(Answer.participant_id == person.id)))
    assert [(a.key, a.value) for a in saved] == [("mood", "bad")]
    [row] = [r for r in await stack.inbound() if r.button]
    assert row.button == "bad" and row.outcome == "flow"


def _raw(stack: Stack, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> Any:
    return stack.client.post(
        "/webhooks/twilio",
        data=body,
        headers={"Content-Type": content_type, "X-Twilio-Signature": "x"},
    )


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"From": "+447911000003", "Body": "no sid"}, 400),
        ({"MessageSid": "SM" + "a" * 32, "Body": "no sender"}, 400),
        ({"MessageSid": "SM" + "b" * 200, "From": "+447911000003", "Body": "sid too long"}, 400),
        ({"MessageSid": "SM" + "c" * 32, "From": "+447911000003", "NumMedia": "lots"}, 200),
    ],
)
async def test_signed_but_incomplete_forms_get_a_4xx_not_a_500(
    stack: Stack, params: dict[str, str], status: int
) -> None:
    response = await stack.twilio_post(params)
    assert response.status == status


async def test_unreadable_bodies_get_a_4xx_and_nothing_is_stored(stack: Stack) -> None:
    assert (await _raw(stack, b"Body=\xff\xfe&From=%2B447911000004&MessageSid=SM1")).status == 400
    assert (await _raw(stack, b'{"Body": "hi"}', "application/json")).status == 415
    assert await stack.inbound() == []


async def test_a_100_kb_body_is_stored_not_lost(stack: Stack) -> None:
    person = await stack.participant()
    response = await stack.sms(person.phone or "", "pain " * 20_000)
    assert response.status == 200
    [row] = await stack.inbound()
    assert row.participant_id == person.id and row.text and row.text.startswith("pain pain")


async def test_an_unknown_sender_is_stored_and_screened_but_gets_nothing(stack: Stack) -> None:
    response = await stack.sms("+447700900999", "hello who is this")
    assert response.status == 200
    [row] = await stack.inbound()
    assert (row.participant_id, row.outcome) == (None, "unknown_sender")
    await stack.flush()
    assert stack.twilio.requests == []


async def test_whatsapp_to_the_wrong_number_still_answers_twiml(stack: Stack) -> None:
    person = await stack.participant(channel="whatsapp")
    response = await stack.whatsapp(person.phone or "", "hi", To=f"whatsapp:{WHATSAPP_FROM}")
    assert response.status == 200 and await response.text() == EMPTY
