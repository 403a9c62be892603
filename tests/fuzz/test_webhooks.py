"""Property tests of both webhooks through the real app: whatever arrives, no 500, nothing escapes.

Arbitrary Unicode (control characters, bidi marks, NUL, emoji parts, other scripts'
digits), huge bodies, missing and repeated fields, wrong JSON types at every level,
and bytes that are not text at all. A correctly signed message from a participant is
always stored and handled (never set aside as an error), whichever flow and step the
participant is on; anything else is refused with a 4xx.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from sqlalchemy import func, select

from bot.host.inbound import clean
from bot.store.models import InboundMessage
from tests.fuzz.conftest import API_TOKEN, CHAT_ID, PHONE, SECRET, Edge, server_errors

# FUZZ_EXAMPLES=2000 for a long run (docs/reliability.md); the default keeps `pytest` quick.
SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FLOWS = [None, None, "sleep_checkin", "activity_checkin", "goal_review", "wellbeing", "onboarding", "talk_to_coach"]  # fmt: skip
NASTY = st.sampled_from(
    ["\u202e", "\u200f", "\u200d", "\ufe0f", "\x00", "\r\n", "\t", "\x1b[31m", "\x7f", "٣", "۷",
     "৩", "੩", "7", "10", "yes", "no", "STOP", "start", "help", "coach", "skip", "👍", "🏽", "%",
     "&", "=", "+", "<Response/>", "'; DROP TABLE inbound_messages; --", "{name}", "%s"]
)  # fmt: skip
# Form values must be encodable, so no lone surrogates here (JSON below has them).
CHAR = st.characters(exclude_categories=["Cs"])
TEXT = st.one_of(
    st.text(CHAR, max_size=200),
    st.lists(st.one_of(NASTY, CHAR), max_size=30).map("".join),
    st.sampled_from(["", " ", "x" * 5000, "٣" * 20_000]),
)
JSON_TEXT = st.one_of(TEXT, st.text(max_size=50))  # st.text() may include lone surrogates
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)  # fmt: skip
TWILIO_FIELDS = ["Body", "From", "MessageSid", "SmsMessageSid", "NumMedia", "ButtonPayload",
                 "ButtonText", "To", "AccountSid", "MediaUrl0", "ProfileName", "WaId"]  # fmt: skip
OK_OR_REFUSED = {200, 400}
FORM = "application/x-www-form-urlencoded"


async def post_form(edge: Edge, path: str, form: list[tuple[str, str]]) -> Any:
    """POST ``form`` exactly as given (repeats and order kept), signed as Twilio signs it."""
    return await edge.client.post(
        path,
        data=urlencode(form).encode(),
        headers={"Content-Type": FORM, "X-Twilio-Signature": edge.signature(path, MultiDict(form))},
    )


def fresh_sid() -> str:
    return "SM" + uuid.uuid4().hex


@st.composite
def twilio_forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Twilio-like forms: usual fields, any of them missing, odd or repeated, plus extras."""
    pairs: list[tuple[str, str]] = []
    sid = draw(st.one_of(st.builds(fresh_sid), st.builds(fresh_sid), st.none(), TEXT))
    if sid is not None:
        pairs.append((draw(st.sampled_from(["MessageSid", "SmsMessageSid"])), sid))
    sender = draw(
        st.one_of(st.just(PHONE), st.sampled_from([PHONE, "whatsapp:" + PHONE, None]), TEXT)
    )
    if sender is not None:
        pairs.append(("From", sender))
    body = draw(st.one_of(st.none(), TEXT, NASTY))
    if body is not None:
        pairs.append(("Body", body))
    names = st.one_of(st.sampled_from(TWILIO_FIELDS), st.text(CHAR, min_size=1, max_size=12))
    pairs += draw(st.lists(st.tuples(names, TEXT), max_size=4))
    return draw(st.permutations(pairs)) if draw(st.booleans()) else pairs


async def start_flow(edge: Edge, flow: str | None) -> None:
    if flow is None:
        return
    response = await edge.client.post(
        f"/api/participants/{edge.participant.id}/flows",
        json={"flow": flow},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status in (202, 409), await response.text()  # 409: the fuzz said STOP


async def stored(edge: Edge, sid: str) -> list[InboundMessage]:
    async with edge.services.sessions() as db:
        return list(
            await db.scalars(select(InboundMessage).where(InboundMessage.provider_id == sid))
        )


async def inbound_count(edge: Edge) -> int:
    async with edge.services.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(InboundMessage)) or 0)


@SETTINGS
@given(form=twilio_forms(), flow=st.sampled_from(FLOWS))
@example(form=[("MessageSid", "SMdup"), ("From", PHONE), ("Body", "7"), ("Body", "yes")], flow="sleep_checkin")  # fmt: skip
@example(form=[("MessageSid", "SMa"), ("MessageSid", "SMb"), ("From", PHONE), ("From", "+447911123402")], flow=None)  # fmt: skip
@example(form=[("MessageSid", "SMnul"), ("From", PHONE), ("Body", "\x00" * 3000)], flow="wellbeing")  # fmt: skip
@example(form=[("MessageSid", "SMcrisis"), ("From", PHONE), ("Body", "I want to end it all")], flow="goal_review")  # fmt: skip
@example(form=[("MessageSid", "SMstop"), ("From", PHONE), ("Body", "STOP")], flow=None)
@example(form=[("MessageSid", "SMafter"), ("From", PHONE), ("Body", "7")], flow="sleep_checkin")
@example(form=[("MessageSid", "SMstart"), ("From", PHONE), ("Body", "START")], flow=None)
@example(form=[("MessageSid", "SMmedia"), ("From", PHONE), ("NumMedia", "99999999999")], flow=None)
async def test_signed_twilio_messages_are_stored_and_handled_or_refused_with_4xx(
    edge: Edge, caplog: pytest.LogCaptureFixture, form: list[tuple[str, str]], flow: str | None
) -> None:
    await start_flow(edge, flow)
    caplog.clear()
    fields = MultiDict(form)
    response = await post_form(edge, "/webhooks/twilio", form)
    event(f"status {response.status}")
    assert response.status in OK_OR_REFUSED, await response.text()
    assert not server_errors(caplog.records)
    if response.status == 200:
        assert "<Response/>" in await response.text()
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or ""
        channel = "whatsapp" if fields["From"].strip().lower().startswith("whatsapp:") else "sms"
        rows = [r for r in await stored(edge, clean(sid, 128) or "-") if r.channel == channel]
        assert len(rows) == 1
        assert rows[0].processed_at is not None and rows[0].outcome != "error"
        event(f"outcome {rows[0].outcome}")


@SETTINGS
@given(
    body=st.binary(max_size=3000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=xyz",
            "application/json",
            "text/plain",
            "",
        ]
    ),
    signature=st.one_of(
        st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
    ),
    path=st.sampled_from(["/webhooks/twilio", "/webhooks/twilio/status"]),
)
async def test_unsigned_or_undecodable_twilio_posts_are_refused_and_store_nothing(
    edge: Edge,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    signature: str | None,
    path: str,
) -> None:
    before = await inbound_count(edge)
    caplog.clear()
    headers = {"Content-Type": content_type} if content_type else {}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = await edge.client.post(path, data=body, headers=headers)
    assert response.status in {400, 403, 415}, await response.text()
    assert not server_errors(caplog.records)
    assert await inbound_count(edge) == before


@SETTINGS
@given(
    status=st.one_of(st.sampled_from(["delivered", "failed", "undelivered", "read", "sent"]), TEXT),
    sid=st.one_of(st.none(), st.builds(fresh_sid), TEXT),
    code=st.one_of(st.none(), st.sampled_from(["30007", "63016", "21610"]), TEXT),
    outbox=st.one_of(st.none(), st.integers(-5, 10**20).map(str), st.text("0123456789abc-%", max_size=25)),
)  # fmt: skip
async def test_status_callbacks_with_any_fields_never_fail(
    edge: Edge,
    caplog: pytest.LogCaptureFixture,
    status: str,
    sid: str | None,
    code: str | None,
    outbox: str | None,
) -> None:
    form = [("MessageStatus", status)]
    if sid is not None:
        form.append(("MessageSid", sid))
    if code is not None:
        form.append(("ErrorCode", code))
    url = edge.client.make_url("/webhooks/twilio/status")
    if outbox is not None:
        url = url.with_query(outbox=outbox)
    path = url.raw_path_qs
    caplog.clear()
    response = await post_form(edge, path, form)
    assert response.status in OK_OR_REFUSED, await response.text()
    assert not server_errors(caplog.records)


def _maybe(draw: st.DrawFn, value: Any) -> Any:
    """The value, something else of any JSON type, or (as ``...``) nothing at all."""
    return draw(st.one_of(st.just(value), st.just(value), JSON_VALUE, st.just(...)))


def _object(draw: st.DrawFn, fields: dict[str, Any]) -> dict[str, Any]:
    out = {key: _maybe(draw, value) for key, value in fields.items()}
    return {key: value for key, value in out.items() if value is not ...}


@st.composite
def telegram_updates(draw: st.DrawFn) -> Any:
    """Updates shaped like Telegram's, with any field missing or of the wrong type."""
    update_id = draw(st.integers(1, 2**40))
    text = draw(st.one_of(JSON_TEXT, JSON_TEXT.map(lambda t: "/start " + t)))
    chat = {"id": CHAT_ID, "type": draw(st.sampled_from(["private", "group", "channel"]))}
    sender = {"id": CHAT_ID, "is_bot": False, "language_code": draw(st.sampled_from(["en", "ur", "pa-IN", "xx", ""]))}  # fmt: skip
    message = {"message_id": 1, "chat": _object(draw, chat), "from": _object(draw, sender),
               "date": 1772445600, "text": text}  # fmt: skip
    if draw(st.booleans()):
        message["caption"] = draw(JSON_TEXT)
    if draw(st.booleans()):
        message[draw(st.sampled_from(["voice", "photo", "sticker", "location"]))] = draw(JSON_VALUE)
    kind = draw(st.sampled_from(["message", "edited_message", "callback_query", "my_chat_member", "poll"]))  # fmt: skip
    if kind == "callback_query":
        body: Any = {"id": draw(JSON_TEXT), "from": _object(draw, sender), "data": draw(JSON_TEXT),
                     "message": {**message, "reply_markup": {"inline_keyboard": draw(JSON_VALUE)}}}  # fmt: skip
    elif kind == "my_chat_member":
        status = draw(st.sampled_from(["kicked", "member", "left"]))
        body = {"chat": _object(draw, chat), "new_chat_member": {"status": status}}
    else:
        body = _object(draw, message)
    update = {"update_id": _maybe(draw, update_id), kind: _maybe(draw, body)}
    return {k: v for k, v in update.items() if v is not ...}


@SETTINGS
@given(update=st.one_of(telegram_updates(), JSON_VALUE))
@example(update={"update_id": 1, "message": {"chat": {"id": CHAT_ID}, "text": "\ud800 7 \udfff"}})
@example(update={"update_id": 2, "message": {"chat": {"id": CHAT_ID}, "text": "x" * 200_000}})
@example(update={"update_id": 3, "callback_query": {"from": {"id": CHAT_ID}, "data": "\x00"}})
@example(update={"update_id": True, "message": None})
async def test_telegram_updates_of_any_shape_are_acknowledged_or_refused(
    edge: Edge, caplog: pytest.LogCaptureFixture, update: Any
) -> None:
    caplog.clear()
    raw = json.dumps(update)  # ensure_ascii: lone surrogates travel as \\udxxx escapes
    response = await edge.client.post(
        "/webhooks/telegram",
        data=raw,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    event(f"status {response.status}")
    assert response.status in OK_OR_REFUSED, await response.text()
    assert not server_errors(caplog.records)


@SETTINGS
@given(body=st.binary(max_size=3000), secret=st.sampled_from([SECRET, None, "", "wrong"]))
async def test_telegram_bytes_that_are_not_json_are_refused(
    edge: Edge, caplog: pytest.LogCaptureFixture, body: bytes, secret: str | None
) -> None:
    caplog.clear()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    response = await edge.client.post("/webhooks/telegram", data=body, headers=headers)
    assert response.status in ({200, 400} if secret == SECRET else {403}), await response.text()
    assert not server_errors(caplog.records)


async def test_a_huge_twilio_body_is_stored_cut_short_and_a_too_large_one_is_413(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sid, too_big = fresh_sid(), fresh_sid()
    form = [("MessageSid", sid), ("From", PHONE), ("Body", "7 " * 200_000)]
    assert (await post_form(edge, "/webhooks/twilio", form)).status == 200
    [row] = await stored(edge, sid)
    assert row.text is not None and len(row.text) == 4000
    form = [("MessageSid", too_big), ("From", PHONE), ("Body", "x" * 1_100_000)]
    assert (await post_form(edge, "/webhooks/twilio", form)).status == 413
    assert await stored(edge, too_big) == []
    big_update = json.dumps({"update_id": 9, "message": {"chat": {"id": CHAT_ID}, "text": "x" * 1_100_000}})  # fmt: skip
    response = await edge.client.post(
        "/webhooks/telegram",
        data=big_update,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert not server_errors(caplog.records)
