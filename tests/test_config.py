"""Configuration is read once and a bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


def test_defaults_match_the_design() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite+aiosqlite:///checkins.db"
    assert settings.port == 8080
    assert settings.public_url == "http://localhost:8080"
    assert (
        settings.api_token is None and not settings.twilio_enabled and not settings.telegram_enabled
    )
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.run_workers_in_process


def test_public_url_follows_the_port() -> None:
    assert load_settings({"PORT": "9000"}).public_url == "http://localhost:9000"


def test_a_plain_postgres_url_is_given_the_async_driver() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert not settings.run_workers_in_process  # separate worker processes on PostgreSQL


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"PUBLIC_URL": "not a url"}, "PUBLIC_URL"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_AUTH_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "1:abc"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TWILIO_API_BASE_URL": "ftp://x"}, "TWILIO_API_BASE_URL"),
        ({"RUN_WORKERS_IN_PROCESS": "maybe"}, "RUN_WORKERS_IN_PROCESS"),
    ],
)
def test_a_bad_value_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_the_process_stops_with_one_clear_line(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "PORT" in lines[-1]


def test_chromium_for_pdf_exports_defaults_to_debians_and_can_be_turned_off() -> None:
    assert load_settings({}).chromium_path == "/usr/bin/chromium"
    assert load_settings({"CHROMIUM_PATH": "chromium"}).chromium_path == "chromium"
    assert load_settings({"CHROMIUM_PATH": "off"}).chromium_path is None
    # not required at start-up: without it only the PDF export answers 503
    assert (
        load_settings({"CHROMIUM_PATH": "/nowhere/chromium"}).chromium_path == "/nowhere/chromium"
    )


def test_sending_margin_and_reconciliation_settings() -> None:
    settings = load_settings({})
    assert settings.send_rate_margin == 0.98
    assert (settings.reconcile_grace_seconds, settings.reconcile_max_age_hours) == (600.0, 24.0)
    tuned = load_settings(
        {
            "SEND_RATE_MARGIN": "0.95",
            "RECONCILE_GRACE_SECONDS": "30",
            "RECONCILE_MAX_AGE_HOURS": "6",
        }
    )
    assert (tuned.send_rate_margin, tuned.reconcile_grace_seconds) == (0.95, 30.0)
    assert tuned.reconcile_max_age_hours == 6.0
    for bad in ("0.2", "1.5", "most"):
        with pytest.raises(ConfigError, match="SEND_RATE_MARGIN"):
            load_settings({"SEND_RATE_MARGIN": bad})
