"""Channel settings: read once, checked, and turned into the channels this process sends on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channels.registry import default_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.twilio import TwilioChannel
from bot.config import load_settings
from bot.errors import ConfigError

BASE = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t"}


def test_defaults_follow_the_reference_limits() -> None:
    settings = load_settings({})
    assert (settings.twilio_sms_rate, settings.twilio_whatsapp_rate) == (10.0, 80.0)
    assert (settings.telegram_chat_rate, settings.telegram_overall_rate) == (1.0, 30.0)
    assert settings.whatsapp_templates is None and settings.telegram_bot_username is None


def test_rates_and_names_are_read_and_checked() -> None:
    settings = load_settings(
        {"TWILIO_SMS_RATE": "1", "TELEGRAM_RATE": "20", "TELEGRAM_BOT_USERNAME": "@my_bot"}
    )
    assert (settings.twilio_sms_rate, settings.telegram_overall_rate) == (1.0, 20.0)
    assert settings.telegram_bot_username == "my_bot"
    for bad in ("fast", "0", "-3"):
        with pytest.raises(ConfigError, match="TWILIO_SMS_RATE"):
            load_settings({"TWILIO_SMS_RATE": bad})


def test_channels_are_built_for_the_senders_that_are_set(tmp_path: Path) -> None:
    channels = default_channels(load_settings({**BASE, "TWILIO_SMS_FROM": "+447700900001"}))
    assert set(channels) == {"simulator", "sms"} and isinstance(channels["sms"], TwilioChannel)
    service = default_channels(
        load_settings({**BASE, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32})
    )
    assert {"sms", "whatsapp"} <= set(service)
    telegram = default_channels(
        load_settings({"TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_WEBHOOK_SECRET": "s"})
    )
    assert isinstance(telegram["telegram"], TelegramChannel)
    bad = tmp_path / "templates.yaml"
    bad.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="WHATSAPP_TEMPLATES"):
        default_channels(
            load_settings(
                {**BASE, "TWILIO_WHATSAPP_FROM": "+447700900002", "WHATSAPP_TEMPLATES": str(bad)}
            )
        )
