"""TwilioChannel against the fake REST API: retried only when Twilio cannot have sent it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.base import OutboundMessage
from bot.channels.segments import count_segments
from bot.channels.twilio import TwilioChannel
from bot.errors import ChannelError, ChannelForbidden, ChannelRateLimited, ChannelUncertain
from bot.host.outbox import enqueue
from bot.i18n.sms import GSM7_BASIC, GSM7_EXTENSION
from tests.channels.conftest import SMS_FROM, Stack, StackFactory
from tests.fakes.server import unused_port
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio


def _channel(base_url: str, name: str = "sms", **kw: object) -> TwilioChannel:
    options: dict[str, object] = {"sender": SMS_FROM, "timeout": 0.3, **kw}
    return TwilioChannel(
        name,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_base_url=base_url,
        public_url="https://checkins.example.org",
        **options,  # type: ignore[arg-type]
    )


def _message(body: str = "How are you today?", **kw: object) -> OutboundMessage:
    return OutboundMessage(outbox_id=7, channel="sms", to="+447911123456", body=body, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "error", "permanent", "code"),
    [
        ("429", ChannelRateLimited, False, "429"),
        ("21610", ChannelForbidden, True, "21610"),
        ("63016", ChannelError, True, "63016"),
        ("30007", ChannelError, True, "30007"),
        ("21211", ChannelError, True, "21211"),
        ("500", ChannelUncertain, True, "20500"),
        ("timeout", ChannelUncertain, True, "no_answer"),
        ("drop", ChannelUncertain, True, "no_answer"),
    ],
)
async def test_provider_answers_map_to_what_the_sender_may_do(
    fake_twilio: FakeTwilio, answer: str, error: type[ChannelError], permanent: bool, code: str
) -> None:
    # 0.3 s only where the fake must outlast it: on a loaded CI machine an answer once
    # took longer, and a refusal read as a lost answer.
    channel = _channel(fake_twilio.url, timeout=0.3 if answer == "timeout" else 5.0)
    fake_twilio.fail_next(answer)
    try:
        with pytest.raises(error) as caught:
            await channel.send(_message())
    finally:
        await channel.close()
    assert type(caught.value) is error
    assert (caught.value.permanent, caught.value.code) == (permanent, code)
    assert len(fake_twilio.requests) == 1
    assert "+44" not in str(caught.value)  # Twilio's own message may quote the number: not ours


async def test_connection_refused_is_retryable_because_nothing_was_sent() -> None:
    channel = _channel(f"http://127.0.0.1:{unused_port()}")
    try:
        with pytest.raises(ChannelError) as caught:
            await channel.send(_message())
    finally:
        await channel.close()
    assert type(caught.value) is ChannelError
    assert (caught.value.permanent, caught.value.code) == (False, "connect")


async def test_a_429_waits_as_told_then_is_sent_once_more(stack: Stack) -> None:
    stack.twilio.retry_after = "1"
    stack.twilio.fail_next("429")
    person = await stack.participant()
    await stack.sms(person.phone or "", "help")
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("pending", "429")
    assert row.not_before == stack.clock.now() + timedelta(seconds=1)
    stack.clock.advance(timedelta(seconds=2))
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert row.status == "sent"
    first, second = stack.twilio.requests
    assert (first.answered, second.answered) == ("429", "201")
    assert second.at - first.at >= 0.9  # the sender held the whole number back, not just the row


async def test_an_uncertain_or_failed_send_is_never_repeated(make_stack: StackFactory) -> None:
    stack = await make_stack(provider_timeout=0.3)
    first, second = await stack.participant(), await stack.participant()
    stack.twilio.by_recipient = {first.phone or "": "timeout", second.phone or "": "30007"}
    await stack.sms(first.phone or "", "help")
    await stack.sms(second.phone or "", "help")
    for _ in range(3):
        await stack.flush()
        stack.clock.advance(timedelta(hours=1))
    assert len(stack.twilio.requests) == 2
    [uncertain] = await stack.outbox(first.id)
    [failed] = await stack.outbox(second.id)
    assert uncertain.status == "uncertain" and failed.status == "failed"
    assert "filtered by the carrier" in (failed.error or "")


async def test_a_long_message_is_sent_whole_with_its_segments_counted(stack: Stack) -> None:
    person = await stack.participant(language="ur")
    body = "آپ کی نیند کیسی رہی؟ " * 12  # Urdu: UCS-2, 67 characters per segment
    async with stack.services.sessions() as db, db.begin():
        enqueue(db, person, body, now=stack.clock.now(), kind="coach")
    await stack.flush()
    [request] = stack.twilio.requests
    assert request.form["Body"] == body
    [row] = await stack.outbox(person.id)
    assert row.segments == count_segments(body).count == 4


async def test_form_characters_in_a_body_arrive_as_written(stack: Stack) -> None:
    person = await stack.participant()
    body = "Sleep & pain: 7/10 = ok? +1 100% #goals\nReply A=yes"
    async with stack.services.sessions() as db, db.begin():
        enqueue(db, person, body, now=stack.clock.now(), kind="coach")
    await stack.flush()
    [request] = stack.twilio.requests
    assert request.form["Body"] == body


async def test_a_message_over_1600_characters_fails_loudly_and_is_not_cut(stack: Stack) -> None:
    person = await stack.participant()
    async with stack.services.sessions() as db, db.begin():
        enqueue(db, person, "x" * 1601, now=stack.clock.now(), kind="coach")
    await stack.flush()
    assert stack.twilio.requests == []
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error_code) == ("failed", "21617")
    [item] = await stack.escalations(person.id)
    assert "1601 characters" in item.reason


async def test_a_messaging_service_replaces_the_from_number(make_stack: StackFactory) -> None:
    stack = await make_stack(twilio_sms_from=None, twilio_messaging_service_sid="MG" + "2" * 32)
    person = await stack.participant()
    await stack.sms(person.phone or "", "help")
    await stack.flush()
    [request] = stack.twilio.requests
    assert request.form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in request.form


async def test_wrong_credentials_are_retried_not_dropped(fake_twilio: FakeTwilio) -> None:
    channel = TwilioChannel(
        "sms", account_sid=ACCOUNT_SID, auth_token="wrong", api_base_url=fake_twilio.url,
        public_url="https://checkins.example.org", sender=SMS_FROM,
    )  # fmt: skip
    try:
        with pytest.raises(ChannelError) as caught:
            await channel.send(_message())
    finally:
        await channel.close()
    assert (caught.value.permanent, caught.value.code) == (False, "20003")


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€", "GSM-7", 1),
        ("a" * 153 + "€" + "a" * 10, "GSM-7", 2),  # an escape pair is never split
        ("Zażółć", "UCS-2", 1),  # Polish letters outside GSM-7
        ("ب" * 70, "UCS-2", 1),
        ("ب" * 71, "UCS-2", 2),
        ("ب" * 134, "UCS-2", 2),
        ("ب" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segments_are_counted_as_twilio_counts_them(
    text: str, encoding: str, segments: int
) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.count) == (encoding, segments)


def _counted_one_by_one(text: str) -> tuple[str, int, int]:
    """The count done the slow, obvious way: a cost per character, packed whole."""
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    costs = [(2 if c in GSM7_EXTENSION else 1) if gsm else (2 if ord(c) > 0xFFFF else 1)
             for c in text]  # fmt: skip
    single, multi = (160, 153) if gsm else (70, 67)
    count, used = 1, 0
    if sum(costs) > single:
        for cost in costs:
            if used + cost > multi:
                count, used = count + 1, 0
            used += cost
    return ("GSM-7" if gsm else "UCS-2"), sum(costs), count


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=400),
        st.text(alphabet=st.sampled_from([*sorted(GSM7_BASIC), "ą", "ب", "😀"]), max_size=200),
    )
)
def test_segments_counted_quickly_match_the_count_made_a_character_at_a_time(text: str) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.units, counted.count) == _counted_one_by_one(text)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["sms", "whatsapp"]),
    service=st.booleans(),
    body=st.text(max_size=300),
    to=st.text(alphabet="+0123456789 ()-", min_size=1, max_size=20),
    outbox_id=st.integers(min_value=1, max_value=2**62),
    template=st.sampled_from(
        [None, {}, {"content_sid": "HX1"}, {"content_sid": "HX1", "variables": {"1": "Kasia & co"}}]
    ),
)
def test_the_form_is_encoded_as_urlencode_encodes_it(
    name: str, service: bool, body: str, to: str, outbox_id: int, template: dict[str, object] | None
) -> None:
    """The shared fields are encoded once per channel; the bytes sent must not change."""
    kw = {"sender": None, "messaging_service_sid": "MG" + "2" * 32} if service else {}
    channel = _channel("http://127.0.0.1:9", name, **kw)
    message = OutboundMessage(outbox_id, name, to, body, template=template)
    assert channel.encoded(message) == urlencode(channel.form(message)).encode()
