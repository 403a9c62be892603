"""What every provider webhook does with a message: store it, then process it.

Storing commits before anything else, so a message that was accepted is never
lost; if processing then fails, the inbound sweep (``bot.host.sweeps``) picks the
stored row up again. Only a failure to store gives the provider an error (so it
retries); bad input gets a 4xx and a log line naming no person.
"""

from __future__ import annotations

import logging
import traceback

from aiohttp import web

from bot.channels.base import InboundMessage
from bot.host.inbound import Received, drain, handle_unknown, receive
from bot.host.services import Services
from bot.store.models import InboundMessage as InboundRow

log = logging.getLogger(__name__)
MAX_PROVIDER_ID = 128


def log_failure(what: str, exc: BaseException, **ids: object) -> None:
    """The exception's type and where it happened, never its message.

    Database errors quote their SQL parameters (phone numbers, message text).
    """
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s: %s\n%s", what, type(exc).__name__, frames, extra=ids)


class NotStored(Exception):
    """The database did not take the message: answer 503 so the provider retries."""


async def accept(services: Services, message: InboundMessage) -> Received:
    """Stored and processed before the webhook answers: in a batch when webhooks arrive
    together (``bot.host.intake``), else on its own."""
    if services.intake is not None:
        received = await services.intake.submit(message)
        if received is not None and received.processed:
            return received
        try:
            if received is None:
                return await accept_one(services, message)
            return await process_stored(services, message, received)
        finally:
            services.intake.done(message)
    return await accept_one(services, message)


async def accept_one(services: Services, message: InboundMessage) -> Received:
    try:
        received = await receive(services, message)
    except Exception as exc:
        log_failure("inbound message not stored", exc, channel=message.channel)
        raise NotStored from exc
    return await process_stored(services, message, received)


async def process_stored(
    services: Services, message: InboundMessage, received: Received
) -> Received:
    """Process a stored message (and any earlier one of its sender's still waiting)."""
    if received.duplicate or received.inbound_id is None:
        log.info("duplicate webhook ignored", extra={"channel": message.channel})
        return received
    try:
        if received.participant_id is None:
            async with services.sessions() as db:
                row = await db.get(InboundRow, received.inbound_id)
            if row is not None:
                await handle_unknown(services, row)
        else:
            await drain(services, received.participant_id)
    except Exception as exc:
        # Stored: the inbound sweep will process it. The provider must not resend it.
        log_failure("inbound processing failed", exc, inbound_id=received.inbound_id)
    services.outbox_wake.set()
    return received


def unavailable() -> web.Response:
    return web.Response(status=503, text="try again later")
