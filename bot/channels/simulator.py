"""The web simulator channel: messages are 'delivered' to the outbox rows themselves.

The simulator page reads the conversation back from the database, so sending
is only a status change.
"""

from __future__ import annotations

from bot.channels.base import OutboundMessage, SendResult


class SimulatorChannel:
    name = "simulator"

    async def send(self, message: OutboundMessage) -> SendResult:
        return SendResult(provider_id=f"sim-{message.outbox_id}", status="delivered")

    async def close(self) -> None:
        return None
