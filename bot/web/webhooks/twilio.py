"""Twilio webhooks: inbound SMS and WhatsApp, and delivery status callbacks.

The signature is checked against ``PUBLIC_URL`` plus the raw path and query as
received, so TLS termination and proxies in front of us do not break it; all
form fields Twilio sent are signed, including ones we do not read. We answer
``<Response/>`` at once; replies go out through the outbox and the REST API.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bot.channels.base import InboundMessage
from bot.channels.twilio import STATUS_PATH, WHATSAPP_PREFIX
from bot.outbox.delivery import record_status
from bot.web.keys import SERVICES
from bot.web.webhooks.common import MAX_PROVIDER_ID, NotStored, accept, log_failure, unavailable

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_MEDIA = 10


def twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def refuse(status: int, reason: str, path: str) -> web.Response:
    log.warning("twilio webhook refused: %s", reason, extra={"path": path, "status": status})
    return web.Response(status=status, text=reason)


async def signed_form(request: web.Request) -> MultiDict[str] | web.Response:
    """The form fields if Twilio signed them, else the refusal to send back."""
    settings = request.app[SERVICES].settings
    if not settings.twilio_auth_token:
        return refuse(404, "Twilio is not configured", request.path)
    if request.content_type != "application/x-www-form-urlencoded":
        return refuse(415, "expected a form post", request.path)
    try:
        posted = await request.post()
    except UnicodeDecodeError:
        return refuse(400, "the form is not valid UTF-8", request.path)
    except ValueError:
        return refuse(400, "the form could not be read", request.path)
    form: MultiDict[str] = MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.public_url.rstrip("/") + request.raw_path
    if not signature or not signed(
        RequestValidator(settings.twilio_auth_token), url, form, signature
    ):
        return refuse(403, "invalid signature", request.path)
    return form


def signed(validator: RequestValidator, url: str, form: MultiDict[str], signature: str) -> bool:
    """Signed for ``url`` as we have it, else for any URL ``validator.validate`` accepts.

    ``validate`` signs the form twice for every request (the URL with and without its
    port, since Twilio's own signing differs); a request signed for the URL as configured,
    as Twilio signs it, needs only the first.
    """
    expected: str = validator.compute_signature(url, form)
    if hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    return bool(validator.validate(url, form, signature))


def _count(raw: str | None) -> int:
    try:
        return max(0, min(int(raw or "0"), MAX_MEDIA))
    except ValueError:
        return 0


def inbound_message(form: MultiDict[str], now: Any) -> InboundMessage | str:
    """The message Twilio describes, or why it cannot be one."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    sender = form.get("From", "").strip()
    if not sid or len(sid) > MAX_PROVIDER_ID:
        return "MessageSid missing or too long"
    if not sender:
        return "From missing"
    channel = "sms"
    if sender.lower().startswith(WHATSAPP_PREFIX):
        channel, sender = "whatsapp", sender[len(WHATSAPP_PREFIX) :]
    if len(sender) > 64:
        return "From too long"
    button = form.get("ButtonPayload") or form.get("ButtonText") or None
    text = form.get("Body")
    if not text and form.get("ButtonText"):
        text = form.get("ButtonText")
    return InboundMessage(
        channel=channel,
        provider_id=sid,
        sender=sender,
        text=text,
        received_at=now,
        button=button,
        media_count=_count(form.get("NumMedia")),
    )


@routes.post("/webhooks/twilio")
async def twilio_inbound(request: web.Request) -> web.Response:
    form = await signed_form(request)
    if isinstance(form, web.Response):
        return form
    services = request.app[SERVICES]
    message = inbound_message(form, services.clock.now())
    if isinstance(message, str):
        return refuse(400, message, request.path)
    try:
        await accept(services, message)
    except NotStored:
        return unavailable()
    return twiml()


@routes.post(STATUS_PATH)
async def twilio_status(request: web.Request) -> web.Response:
    form = await signed_form(request)
    if isinstance(form, web.Response):
        return form
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or len(sid) > MAX_PROVIDER_ID or not status or len(status) > 32:
        return refuse(400, "MessageSid and MessageStatus are required", request.path)
    code = (form.get("ErrorCode") or "").strip()[:32] or None
    raw_outbox = request.query.get("outbox", "")
    outbox_id = int(raw_outbox) if raw_outbox.isdigit() and len(raw_outbox) < 18 else None
    services = request.app[SERVICES]
    try:
        async with services.writing() as db:
            outcome = await record_status(
                db,
                provider="twilio",
                provider_id=sid,
                status=status,
                error_code=code,
                now=services.clock.now(),
                outbox_id=outbox_id,
            )
    except Exception as exc:
        log_failure("delivery status not stored", exc)
        return unavailable()
    log.info("delivery status", extra={"status": status, "code": code, "outcome": outcome})
    return twiml()
