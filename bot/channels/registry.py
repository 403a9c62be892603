"""Which channels this process can send on, from the settings."""

from __future__ import annotations

from bot.channels.base import Channel
from bot.channels.simulator import SimulatorChannel
from bot.config import Settings


def default_channels(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {"simulator": SimulatorChannel()}
    channels.update(provider_channels(settings))
    return channels


def provider_channels(settings: Settings) -> dict[str, Channel]:
    """Twilio SMS/WhatsApp and Telegram, for whichever credentials and senders are set."""
    from bot.channels.telegram import TelegramChannel
    from bot.channels.twilio import TwilioChannel
    from bot.outbox.whatsapp import load_templates

    channels: dict[str, Channel] = {}
    if settings.twilio_account_sid and settings.twilio_auth_token:
        senders = {
            "sms": (settings.twilio_sms_from, settings.twilio_sms_rate),
            "whatsapp": (settings.twilio_whatsapp_from, settings.twilio_whatsapp_rate),
        }
        for name, (sender, rate) in senders.items():
            if sender or settings.twilio_messaging_service_sid:
                channels[name] = TwilioChannel(
                    name,
                    account_sid=settings.twilio_account_sid,
                    auth_token=settings.twilio_auth_token,
                    api_base_url=settings.twilio_api_base_url,
                    public_url=settings.public_url,
                    sender=sender,
                    messaging_service_sid=settings.twilio_messaging_service_sid,
                    rate=rate,
                    timeout=settings.provider_timeout,
                )
        if "whatsapp" in channels:
            load_templates(settings.whatsapp_templates)  # fail fast on a bad template file
    if settings.telegram_bot_token:
        channels["telegram"] = TelegramChannel(
            settings.telegram_bot_token,
            api_base_url=settings.telegram_api_base_url,
            chat_rate=settings.telegram_chat_rate,
            overall_rate=settings.telegram_overall_rate,
            timeout=settings.provider_timeout,
        )
    return channels
