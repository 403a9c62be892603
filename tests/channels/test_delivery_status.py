"""POST /webhooks/twilio/status: statuses recorded once, moving forward, failures acted on."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.store.models.channels import DeliveryStatus
from tests.channels.conftest import Stack, StackFactory, new_sid

AUTH = {"Authorization": "Bearer test-token"}


async def _sent_message(stack: Stack) -> tuple[int, int, str]:
    person = await stack.participant()
    await stack.client.post(
        f"/api/participants/{person.id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert row.provider_id is not None
    return person.id, row.id, row.provider_id


async def _status_of(stack: Stack, outbox_id: int) -> tuple[str, str | None]:
    [row] = [r for r in await stack.outbox() if r.id == outbox_id]
    return row.status, row.error_code


async def test_statuses_move_forward_and_are_recorded_once(stack: Stack) -> None:
    _, row_id, sid = await _sent_message(stack)
    for status in ("sent", "delivered", "sent", "delivered"):  # a late and a repeated callback
        response = await stack.status(sid, status)
        assert response.status == 200 and response.content_type == "text/xml"
    assert await _status_of(stack, row_id) == ("delivered", None)
    await stack.status(sid, "read")
    assert await _status_of(stack, row_id) == ("read", None)
    async with stack.services.sessions() as db:
        count = await db.scalar(select(func.count()).select_from(DeliveryStatus))
    assert count == 3  # sent, delivered, read: duplicates not stored twice


async def test_a_carrier_filtered_message_is_recorded_shown_to_staff_and_not_retried(
    stack: Stack,
) -> None:
    person_id, row_id, sid = await _sent_message(stack)
    await stack.status(sid, "sent")
    await stack.status(sid, "undelivered", error="30007")
    assert await _status_of(stack, row_id) == ("undelivered", "30007")
    [item] = await stack.escalations(person_id)
    assert "filtered by the carrier" in item.reason and item.source == "delivery"
    await stack.status(sid, "failed", error="30007")
    await stack.flush()
    assert len(stack.twilio.requests) == 1
    assert len(await stack.escalations(person_id)) == 1


async def test_a_callback_that_overtakes_our_commit_is_applied_after_the_send(stack: Stack) -> None:
    sid = "SM" + "f" * 32
    stack.twilio.next_sids.append(sid)
    assert (await stack.status(sid, "delivered")).status == 200  # no row has this id yet
    _, row_id, provider_id = await _sent_message(stack)
    assert provider_id == sid
    assert await _status_of(stack, row_id) == ("delivered", None)


async def test_a_callback_settles_a_send_whose_answer_was_lost(make_stack: StackFactory) -> None:
    stack = await make_stack(provider_timeout=0.3)
    stack.twilio.fail_next("timeout")
    person = await stack.participant()
    await stack.client.post(
        f"/api/participants/{person.id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert row.status == "uncertain" and row.provider_id is None
    [request] = stack.twilio.requests  # Twilio did take it
    await stack.status(request.sid or "", "delivered", outbox_id=row.id)
    [row] = await stack.outbox(person.id)
    assert (row.status, row.provider_id) == ("delivered", request.sid)
    await stack.flush()
    assert len(stack.twilio.requests) == 1  # never resent


async def test_a_status_callback_with_a_bad_signature_is_refused(stack: Stack) -> None:
    _, row_id, sid = await _sent_message(stack)
    response = await stack.twilio_post(
        {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30007"},
        path="/webhooks/twilio/status",
        signature="forged",
    )
    assert response.status == 403
    assert await _status_of(stack, row_id) == ("sent", None)


async def test_a_status_callback_without_its_fields_gets_a_400(stack: Stack) -> None:
    response = await stack.twilio_post({"MessageSid": new_sid()}, path="/webhooks/twilio/status")
    assert response.status == 400
