"""Settings read once from the environment, failing fast with one clear line.

Every variable the design names is here; later issues add theirs to ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///checkins.db"
SUPPORTED_DB_PREFIXES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 8080
    public_url: str = "http://localhost:8080"
    api_token: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    run_workers_in_process: bool = True
    local_crisis_line: str | None = "Bradford First Response 0800 952 1181"
    session_secret: str | None = None
    require_reviewed_translations: bool = False
    seed_demo: bool = True
    organisation: str | None = None
    # Channels (issue 3): sends per second per sender, timeouts, WhatsApp templates, Telegram links.
    twilio_sms_rate: float = 10.0
    twilio_whatsapp_rate: float = 80.0
    telegram_chat_rate: float = 1.0
    telegram_overall_rate: float = 30.0
    provider_timeout: float = 15.0
    # Inbound (issue 9): how many webhooks that arrive together are processed in one
    # transaction (bot/host/intake.py); 1 processes each on its own.
    inbound_batch: int = 64
    # Sending (issue 9): the share of the provider's rate the sender uses (the rest absorbs
    # jitter between our departures and the provider's arrivals), and settling uncertain sends.
    send_rate_margin: float = 0.98
    reconcile_grace_seconds: float = 600.0
    reconcile_max_age_hours: float = 24.0
    whatsapp_templates: str | None = None
    telegram_bot_username: str | None = None
    telegram_link_ttl_hours: float = 168.0
    # Escalations (issue 5): staffed hours, deadlines, who hears when (bot/escalations/policy.py).
    staffed_hours: str = "mon-fri 09:00-17:00"
    staffed_timezone: str = "Europe/London"
    escalation_deadlines: str = "urgent=15m,high=eod,routine=3wd"
    escalation_lead_after_minutes: int = 15
    out_of_hours_contact: str | None = None
    duty_lead: str | None = None
    # Staff operations and privacy (issue 8): metrics access, pseudonyms, retention.
    metrics_token: str | None = None
    pseudonym_secret: str | None = None
    message_retention_days: int = 365
    answer_retention_days: int = 2922  # 8 years: adult health records (Records Management Code)
    escalation_retention_days: int = 2922
    deprivation_lookup: str | None = None
    chromium_path: str | None = "/usr/bin/chromium"  # MDT report as PDF; None: turned off
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    parsed = urlparse(raw)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/") if name != "TELEGRAM_API_BASE_URL" else raw


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 0 < value < 1e6:
        raise ConfigError(f"{name} must be more than 0, got {raw!r}")
    return value


def _margin(env: Mapping[str, str]) -> float:
    value = _positive(env, "SEND_RATE_MARGIN", Settings.send_rate_margin)
    if not 0.5 <= value <= 1:
        raise ConfigError(f"SEND_RATE_MARGIN must be from 0.5 to 1, got {value!r}")
    return value


def _batch(env: Mapping[str, str]) -> int:
    raw = (env.get("INBOUND_BATCH") or str(Settings.inbound_batch)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError(f"INBOUND_BATCH must be a whole number from 1 to 1000, got {raw!r}")
    return int(raw)


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every variable; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    if not database_url.startswith(SUPPORTED_DB_PREFIXES):
        raise ConfigError(
            "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://, "
            f"got {database_url.split('://', 1)[0]!r}"
        )
    raw_port = env.get("PORT") or "8080"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"PORT must be a number from 1 to 65535, got {raw_port!r}")
    port = int(raw_port)
    sid, token = _optional(env, "TWILIO_ACCOUNT_SID"), _optional(env, "TWILIO_AUTH_TOKEN")
    if bool(sid) != bool(token):
        raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set together")
    telegram_token = _optional(env, "TELEGRAM_BOT_TOKEN")
    telegram_secret = _optional(env, "TELEGRAM_WEBHOOK_SECRET")
    if telegram_token and not telegram_secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be set when TELEGRAM_BOT_TOKEN is set")
    return Settings(
        database_url=database_url,
        port=port,
        public_url=_url(env, "PUBLIC_URL", f"http://localhost:{port}"),
        api_token=_optional(env, "API_TOKEN"),
        twilio_account_sid=sid,
        twilio_auth_token=token,
        twilio_sms_from=_optional(env, "TWILIO_SMS_FROM"),
        twilio_whatsapp_from=_optional(env, "TWILIO_WHATSAPP_FROM"),
        twilio_messaging_service_sid=_optional(env, "TWILIO_MESSAGING_SERVICE_SID"),
        twilio_api_base_url=_url(env, "TWILIO_API_BASE_URL", "https://api.twilio.com"),
        telegram_bot_token=telegram_token,
        telegram_webhook_secret=telegram_secret,
        telegram_api_base_url=_url(env, "TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot"),
        run_workers_in_process=_bool(
            env, "RUN_WORKERS_IN_PROCESS", database_url.startswith("sqlite")
        ),
        local_crisis_line=env.get("LOCAL_CRISIS_LINE", Settings.local_crisis_line) or None,
        session_secret=_optional(env, "SESSION_SECRET"),
        require_reviewed_translations=_bool(env, "REQUIRE_REVIEWED_TRANSLATIONS", False),
        seed_demo=_bool(env, "SEED_DEMO", database_url.startswith("sqlite")),
        organisation=_optional(env, "ORGANISATION_NAME"),
        twilio_sms_rate=_positive(env, "TWILIO_SMS_RATE", 10.0),
        twilio_whatsapp_rate=_positive(env, "TWILIO_WHATSAPP_RATE", 80.0),
        telegram_chat_rate=_positive(env, "TELEGRAM_CHAT_RATE", 1.0),
        telegram_overall_rate=_positive(env, "TELEGRAM_RATE", 30.0),
        provider_timeout=_positive(env, "PROVIDER_TIMEOUT_SECONDS", 15.0),
        inbound_batch=_batch(env),
        send_rate_margin=_margin(env),
        reconcile_grace_seconds=_positive(env, "RECONCILE_GRACE_SECONDS", 600.0),
        reconcile_max_age_hours=_positive(env, "RECONCILE_MAX_AGE_HOURS", 24.0),
        whatsapp_templates=_optional(env, "WHATSAPP_TEMPLATES"),
        telegram_bot_username=(_optional(env, "TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
        telegram_link_ttl_hours=_positive(env, "TELEGRAM_LINK_TTL_HOURS", 168.0),
        **_escalation_settings(env),
        **_staff_settings(env),
        extra={k: v for k, v in env.items() if k.startswith("CHECKINS_")},
    )


def _escalation_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Read the escalation settings and parse them now, so a typo fails at start-up."""
    from bot.escalations.policy import EscalationPolicy

    raw_lead_after = (env.get("ESCALATION_LEAD_AFTER_MINUTES") or "15").strip()
    if not raw_lead_after.isdigit() or len(raw_lead_after) > 5:
        raise ConfigError(
            f"ESCALATION_LEAD_AFTER_MINUTES must be a number of minutes, got {raw_lead_after!r}"
        )
    values: dict[str, Any] = {
        "staffed_hours": env.get("STAFFED_HOURS") or Settings.staffed_hours,
        "staffed_timezone": env.get("STAFFED_TIMEZONE") or Settings.staffed_timezone,
        "escalation_deadlines": env.get("ESCALATION_DEADLINES") or Settings.escalation_deadlines,
        "escalation_lead_after_minutes": int(raw_lead_after),
        "out_of_hours_contact": _optional(env, "OUT_OF_HOURS_CONTACT"),
        "duty_lead": _optional(env, "DUTY_LEAD"),
    }
    EscalationPolicy.parse(
        staffed_hours=values["staffed_hours"],
        timezone=values["staffed_timezone"],
        deadlines=values["escalation_deadlines"],
        lead_after_minutes=values["escalation_lead_after_minutes"],
        out_of_hours_contact=values["out_of_hours_contact"],
        duty_lead=values["duty_lead"],
    )
    return values


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 36500:
        raise ConfigError(f"{name} must be a number of days from 1 to 36500, got {raw!r}")
    return int(raw)


def _staff_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Metrics access, the pseudonymisation key, retention periods, the deprivation lookup."""
    lookup = _optional(env, "DEPRIVATION_LOOKUP")
    if lookup is not None and not os.path.isfile(lookup):
        raise ConfigError(f"DEPRIVATION_LOOKUP must name a CSV file that exists, got {lookup!r}")
    secret = _optional(env, "PSEUDONYM_SECRET")
    if secret is not None and len(secret) < 16:
        raise ConfigError("PSEUDONYM_SECRET must be at least 16 characters long")
    return {
        "metrics_token": _optional(env, "METRICS_TOKEN"),
        "pseudonym_secret": secret,
        "message_retention_days": _days(env, "MESSAGE_RETENTION_DAYS", 365),
        "answer_retention_days": _days(env, "ANSWER_RETENTION_DAYS", 2922),
        "escalation_retention_days": _days(env, "ESCALATION_RETENTION_DAYS", 2922),
        "deprivation_lookup": lookup,
        "chromium_path": _chromium(env),
    }


def _chromium(env: Mapping[str, str]) -> str | None:
    """Where Chromium is, for PDF exports; ``off`` turns them off. Not required to exist at
    start-up: without it the PDF routes answer 503 and everything else works."""
    raw = (env.get("CHROMIUM_PATH") or "").strip()
    if not raw:
        return Settings.chromium_path
    if raw.lower() in {"off", "none", "false"}:
        return None
    return raw
