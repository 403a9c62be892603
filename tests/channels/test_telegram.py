"""Telegram: deep-link linking, updates once by update_id, buttons, blocks, limits."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from bot.channels.telegram import TelegramChannel
from bot.store.models import Answer, Consent, Participant
from bot.store.models.channels import TelegramLink
from bot.web.webhooks.telegram import LINK_UNUSABLE, NOT_LINKED
from tests.channels.conftest import Stack, StackFactory
from tests.fakes.telegram import (
    BOT_USERNAME,
    callback_update,
    member_update,
    text_update,
    voice_update,
)

AUTH = {"Authorization": "Bearer test-token"}
CHAT = 700100


async def _link_url(stack: Stack, participant_id: int) -> Any:
    return await stack.client.post(
        f"/api/participants/{participant_id}/telegram-link", headers=AUTH
    )


async def _token(stack: Stack, participant_id: int) -> str:
    response = await _link_url(stack, participant_id)
    assert response.status == 201
    return parse_qs(urlparse((await response.json())["url"]).query)["start"][0]


async def _linked(stack: Stack, chat: int = CHAT, **overrides: Any) -> Participant:
    person = await stack.participant(channel="telegram", **overrides)
    token = await _token(stack, person.id)
    assert (await stack.telegram_post(text_update(chat, chat, f"/start {token}"))).status == 200
    await stack.flush()
    return await stack.refreshed(person)


async def test_staff_get_a_single_use_expiring_deep_link(stack: Stack) -> None:
    person = await stack.participant(channel="telegram")
    response = await _link_url(stack, person.id)
    assert response.status == 201
    body = await response.json()
    url = urlparse(body["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "t.me", f"/{BOT_USERNAME}")
    token = parse_qs(url.query)["start"][0]
    assert 16 <= len(token) <= 64 and str(person.id) != token
    assert body["expires_at"] == (stack.clock.now() + timedelta(hours=168)).isoformat()
    async with stack.services.sessions() as db:
        [link] = list(await db.scalars(select(TelegramLink)))
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert [c.method for c in stack.telegram.calls] == ["getMe"]  # the bot's name, asked once


async def test_start_with_the_token_links_the_chat_and_starts_onboarding(stack: Stack) -> None:
    person = await stack.participant(channel="telegram")
    token = await _token(stack, person.id)
    update = text_update(1, CHAT, f"/start {token}")
    assert (await stack.telegram_post(update)).status == 200
    assert (await stack.telegram_post(update)).status == 200  # Telegram resent it
    await stack.flush()
    linked = await stack.refreshed(person)
    assert linked.telegram_chat_id == str(CHAT)
    assert stack.telegram.texts(CHAT) == ["Welcome to your check-in texts."]
    [row] = await stack.inbound()
    assert row.text == "/start" and row.outcome == "telegram_linked"  # the token is not kept

    # The link is spent: another chat using it learns nothing and links nothing.
    await stack.telegram_post(text_update(2, CHAT + 1, f"/start {token}"))
    await stack.flush()
    assert stack.telegram.texts(CHAT + 1) == [LINK_UNUSABLE]
    # Tapping it again in the linked chat changes nothing and sends nothing.
    await stack.telegram_post(text_update(3, CHAT, f"/start {token}"))
    await stack.flush()
    assert stack.telegram.texts(CHAT) == ["Welcome to your check-in texts."]


async def test_an_expired_or_replaced_link_does_not_link(stack: Stack) -> None:
    person = await stack.participant(channel="telegram")
    old = await _token(stack, person.id)
    new = await _token(stack, person.id)  # revokes the first
    await stack.telegram_post(text_update(10, CHAT, f"/start {old}"))
    stack.clock.advance(timedelta(hours=169))
    await stack.telegram_post(text_update(11, CHAT, f"/start {new}"))
    await stack.telegram_post(text_update(12, CHAT, "/start not-a-token-at-all!"))
    await stack.flush()
    assert (await stack.refreshed(person)).telegram_chat_id is None
    assert LINK_UNUSABLE in stack.telegram.texts(CHAT)


async def test_a_chat_already_linked_to_someone_else_is_not_moved(stack: Stack) -> None:
    first = await _linked(stack)
    second = await stack.participant(channel="telegram")
    token = await _token(stack, second.id)
    await stack.telegram_post(text_update(15, CHAT, f"/start {token}"))
    await stack.flush()
    assert (await stack.refreshed(first)).telegram_chat_id == str(CHAT)
    assert (await stack.refreshed(second)).telegram_chat_id is None
    assert stack.telegram.texts(CHAT)[-1] == LINK_UNUSABLE


async def test_an_unlinked_chat_gets_one_short_reply_that_reveals_nothing(stack: Stack) -> None:
    await stack.participant(channel="telegram", name="Private Person")
    for update_id, text in ((20, "hello"), (21, "is anyone there"), (22, "/start")):
        assert (await stack.telegram_post(text_update(update_id, CHAT, text))).status == 200
    await stack.flush()
    assert stack.telegram.texts(CHAT) == [NOT_LINKED]  # once an hour is enough
    assert [r.outcome for r in await stack.inbound()] == ["unknown_sender"] * 3


async def test_an_unlinked_chat_in_crisis_gets_the_crisis_reply_and_staff_are_alerted(
    stack: Stack,
) -> None:
    await stack.telegram_post(text_update(30, CHAT, "I want to kill myself"))
    await stack.flush()
    [text] = stack.telegram.texts(CHAT)
    assert "999" in text and "116 123" in text
    [item] = await stack.escalations()
    assert item.priority == "urgent" and item.participant_id is None


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
async def test_a_missing_or_wrong_secret_is_refused_and_nothing_stored(
    stack: Stack, secret: str | None
) -> None:
    await _linked(stack)
    before = len(await stack.inbound())
    response = await stack.telegram_post(text_update(40, CHAT, "STOP"), secret=secret)
    assert response.status == 403
    assert len(await stack.inbound()) == before


async def test_choices_are_inline_buttons_and_a_press_is_the_answer(stack: Stack) -> None:
    person = await _linked(stack)
    started = await stack.client.post(
        f"/api/participants/{person.id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    assert started.status == 202
    await stack.flush()
    question = stack.telegram.sent(CHAT)[-1]
    keyboard = question.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in keyboard] == [["good"], ["ok"], ["bad"]]
    press = callback_update(
        50, CHAT, "ok", buttons=[("Good", "good"), ("OK", "ok"), ("Bad", "bad")]
    )
    assert (await stack.telegram_post(press)).status == 200
    assert (await stack.telegram_post(press)).status == 200  # once by update_id
    await stack.flush()
    async with stack.services.sessions() as db:
        saved = list(
            await db.scalars(select(Answer.value).where(Answer.participant_id == person.id))
        )
    assert saved == ["ok"]
    assert [c.method for c in stack.telegram.calls].count("answerCallbackQuery") == 1
    assert stack.telegram.texts(CHAT)[-1] == "Thank you."


async def test_a_voice_note_is_an_item_for_the_coach(stack: Stack) -> None:
    person = await _linked(stack)
    assert (await stack.telegram_post(voice_update(60, CHAT))).status == 200
    [item] = await stack.escalations(person.id)
    assert "needs a person" in item.reason


@pytest.mark.parametrize(
    "update",
    [
        {
            "update_id": 70,
            "edited_message": {
                "message_id": 1,
                "chat": {"id": CHAT, "type": "private"},
                "date": 1,
                "text": "x",
            },
        },
        {"update_id": 71, "poll": {"id": "1", "question": "?", "options": []}},
        {
            "update_id": 72,
            "message_reaction": {"chat": {"id": CHAT, "type": "private"}, "message_id": 1},
        },
        {
            "update_id": 73,
            "message": {
                "message_id": 1,
                "chat": {"id": -100123, "type": "supergroup"},
                "date": 1,
                "text": "hi",
            },
        },
        {"update_id": 74, "message": {"message_id": 1, "date": 1, "text": "no chat"}},
        {
            "update_id": 75,
            "callback_query": {"id": "q", "from": {"id": CHAT, "is_bot": False, "first_name": "S"}},
        },
        {"update_id": 76},
    ],
)
async def test_unknown_or_odd_updates_are_acknowledged_and_ignored(
    stack: Stack, update: dict[str, Any]
) -> None:
    response = await stack.telegram_post(update)
    assert response.status == 200
    await stack.flush()
    assert stack.telegram.sent() == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"message": {}}',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b"\xff\xfe{}",
    ],
)
async def test_bodies_that_are_not_updates_get_a_400(stack: Stack, body: bytes) -> None:
    response = await stack.client.post(
        "/webhooks/telegram",
        data=body,
        headers={
            "X-Telegram-Bot-Api-Secret-Token": "telegram-webhook-secret_123",
            "Content-Type": "application/json",
        },
    )
    assert response.status == 400


async def test_a_blocked_bot_marks_the_participant_unreachable_and_tells_staff(
    stack: Stack,
) -> None:
    person = await _linked(stack)
    stack.telegram.fail_next("forbidden")
    await stack.client.post(
        f"/api/participants/{person.id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    await stack.flush()
    [*_, row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("failed", "403")
    assert (await stack.refreshed(person)).fields.get("unreachable") == "telegram"
    [item] = await stack.escalations(person.id)
    assert "Telegram" in item.reason and item.status == "open"


async def test_block_and_unblock_updates_are_tracked(stack: Stack) -> None:
    person = await _linked(stack)
    assert (await stack.telegram_post(member_update(80, CHAT, "kicked"))).status == 200
    assert (await stack.refreshed(person)).fields.get("unreachable") == "telegram"
    assert len(await stack.escalations(person.id)) == 1
    assert (await stack.telegram_post(member_update(81, CHAT, "member"))).status == 200
    assert "unreachable" not in (await stack.refreshed(person)).fields


async def test_retry_after_is_obeyed(stack: Stack) -> None:
    person = await _linked(stack)
    stack.telegram.retry_after = 1
    stack.telegram.fail_next("retry_after")
    async with stack.services.sessions() as db, db.begin():
        from bot.host.outbox import enqueue

        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        enqueue(db, fresh, "Your coach says hello.", now=stack.clock.now(), kind="coach")
    await stack.flush()
    [*_, row] = await stack.outbox(person.id)
    assert (row.status, row.not_before) == ("pending", stack.clock.now() + timedelta(seconds=1))
    stack.clock.advance(timedelta(seconds=2))
    await stack.flush()
    [*_, row] = await stack.outbox(person.id)
    assert row.status == "sent"
    refused, accepted = [c for c in stack.telegram.calls if c.method == "sendMessage"][-2:]
    assert (refused.answered, accepted.answered) == ("retry_after", "ok")
    assert accepted.at - refused.at >= 0.9


@pytest.mark.parametrize(
    ("answer", "status"),
    [("timeout", "uncertain"), ("500", "uncertain"), ("bad_request", "failed")],
)
async def test_telegram_failures_are_not_resent_blindly(
    make_stack: StackFactory, answer: str, status: str
) -> None:
    stack = await make_stack(provider_timeout=0.3)
    person = await _linked(stack)
    stack.telegram.fail_next(answer)
    await stack.client.post(
        f"/api/participants/{person.id}/flows", json={"flow": "mood_check"}, headers=AUTH
    )
    for _ in range(3):
        await stack.flush()
        stack.clock.advance(timedelta(minutes=10))
    [*_, row] = await stack.outbox(person.id)
    assert row.status == status
    assert [c.answered for c in stack.telegram.calls if c.method == "sendMessage"][-1] == answer


async def test_the_link_api_refuses_what_it_cannot_do(make_stack: StackFactory) -> None:
    stack = await make_stack(telegram_bot_username="named_in_settings_bot")
    assert (
        await stack.client.post("/api/participants/999/telegram-link", headers=AUTH)
    ).status == 404
    assert (await stack.client.post("/api/participants/1/telegram-link")).status == 401
    person = await stack.participant(channel="telegram")
    response = await _link_url(stack, person.id)
    assert (await response.json())["url"].startswith("https://t.me/named_in_settings_bot?start=")
    assert stack.telegram.calls == []  # no getMe needed
    await stack.telegram_post(text_update(90, CHAT, "hi"))  # unlinked; fine
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        fresh.status = "opted_out"
    response = await _link_url(stack, person.id)
    assert response.status == 409 and (await response.json())["error"]["code"] == "opted_out"

    without = await make_stack(telegram_bot_token=None, telegram_webhook_secret=None)
    other = await without.participant(channel="telegram")
    response = await _link_url(without, other.id)
    assert (
        response.status == 409 and (await response.json())["error"]["code"] == "telegram_disabled"
    )
    assert (await without.telegram_post(text_update(91, CHAT, "hi"))).status == 404


async def test_an_sms_participant_who_opens_a_link_moves_to_telegram_with_consent(
    stack: Stack,
) -> None:
    person = await stack.participant(channel="sms")
    token = await _token(stack, person.id)
    await stack.telegram_post(text_update(95, CHAT, f"/start {token}"))
    moved = await stack.refreshed(person)
    assert (moved.channel, moved.telegram_chat_id) == ("telegram", str(CHAT))
    async with stack.services.sessions() as db:
        consents = {
            c.channel: c.how
            for c in await db.scalars(select(Consent).where(Consent.participant_id == person.id))
        }
    assert consents == {"sms": "test", "telegram": "telegram_start"}


def test_the_channel_uses_the_configured_api_base() -> None:
    channel = TelegramChannel("1:abc", api_base_url="http://127.0.0.1:9/bot")
    assert channel.bot.base_url == "http://127.0.0.1:9/bot1:abc"
