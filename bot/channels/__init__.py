"""Channels behind one interface: simulator here; Twilio and Telegram in their modules."""

from bot.channels.base import Channel, InboundMessage, OutboundMessage, SendResult
from bot.channels.simulator import SimulatorChannel

__all__ = ["Channel", "InboundMessage", "OutboundMessage", "SendResult", "SimulatorChannel"]
