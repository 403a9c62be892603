"""Webhooks that arrive together are processed together.

Each webhook hands its message to the intake and waits. One task takes whatever
has queued up (up to ``INBOUND_BATCH``), stores and processes it in one
transaction (``bot.host.batch``), and answers the waiting webhooks only after the
commit, so a 2xx still means "stored and processed", and an urgent escalation is
still stored before the webhook answers. While one batch is in the database the
next one queues, so batches grow with the load and stay at one message when it is
quiet. Messages the batch leaves (see ``bot.host.batch``) are handed back for the
webhook to process one by one. When a batch fails, its messages are first stored one
by one in the batch's order, so each person's keep their order, and handed back stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from bot.channels.base import InboundMessage
from bot.host.batch import SenderKey, process_batch, sender_key
from bot.host.batching import Batcher
from bot.host.inbound import Received, receive
from bot.host.services import Services
from bot.telemetry import INBOUND_BATCH_SIZE

log = logging.getLogger(__name__)


@dataclass
class Intake:
    """``lanes`` batches may be in the database at once (PostgreSQL: several; SQLite has
    one writer, so one). A sender always uses the same lane, so one person's messages
    are never in two batches at once and keep their order."""

    services: Services
    size: int
    lanes: int = 1
    busy: set[SenderKey] = field(default_factory=set)  # senders being processed one by one
    _lanes: list[Batcher[InboundMessage, Received]] = field(default_factory=list)

    async def submit(self, message: InboundMessage) -> Received | None:
        """The stored and processed message; one stored but not processed
        (``processed`` False: process it yourself); or None: store and process it one by
        one yourself. In both of the last two, call ``done`` afterwards."""
        if not self._lanes:
            self._lanes = [
                Batcher(self._handle, self.size, "inbound-intake", self._abandoned)
                for _ in range(max(1, self.lanes))
            ]
        lane = self._lanes[hash(sender_key(message)) % len(self._lanes)]
        return await lane.submit(message)

    def done(self, message: InboundMessage) -> None:
        self.busy.discard(sender_key(message))

    async def close(self) -> None:
        for lane in self._lanes:
            await lane.close()

    async def _handle(self, messages: list[InboundMessage]) -> list[Received | None]:
        INBOUND_BATCH_SIZE.observe(len(messages))
        try:
            results = await process_batch(self.services, messages, self.busy)
        except Exception as exc:
            # Nothing of the batch was committed: every message goes one by one.
            log.warning("inbound batch rolled back: %s", type(exc).__name__)
            results = await self._store_in_order(messages)
        self.services.outbox_wake.set()
        for message, result in zip(messages, results, strict=True):
            if result is None or not result.processed:
                self.busy.add(sender_key(message))
        return results

    async def _store_in_order(self, messages: list[InboundMessage]) -> list[Received | None]:
        """Each message stored on its own, in the order the batch had them; the webhooks
        then process what was stored. Handed back unstored, their webhooks raced to store
        them, and a person's later message could be stored, and so processed, first.

        Once a store fails (the database may be away), the rest are handed back unstored
        (None), as before: their webhooks try at once, side by side, and answer 503 if
        they cannot store, rather than wait here one after another."""
        results: list[Received | None] = []
        for message in messages:
            try:
                received = await receive(self.services, message)
            except Exception as exc:
                log.warning("inbound message not stored after a rollback: %s", type(exc).__name__)
                break
            # A duplicate was stored and processed before; a new one is left to process.
            results.append(replace(received, processed=received.duplicate))
        return results + [None] * (len(messages) - len(results))

    def _abandoned(self, message: InboundMessage, result: Received | None) -> None:
        if result is None or not result.processed:
            # Nobody is waiting to do it: a stored message is left to the inbound sweep.
            self.busy.discard(sender_key(message))
