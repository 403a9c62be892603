"""Logging: ids only, never phone numbers, names or message text; JSON lines on request."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({})))
# A safety net, not the rule (the rule is: log ids only): anything shaped like a phone number
# (+447911123456, 07911 123456, 447911123456) is masked before a line is written.
PHONE = re.compile(r"\+\d{7,15}|(?<!\d)0\d{4} ?\d{6}(?!\d)|(?<!\d)44\d{10}(?!\d)")


class RedactPhones(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if PHONE.search(message):
            record.msg, record.args = PHONE.sub("[number]", message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str) and PHONE.search(value):
                setattr(record, key, PHONE.sub("[number]", value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactPhones())
    if os.environ.get("LOG_FORMAT", "").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(), handlers=[handler], force=True
    )
    logging.getLogger("aiohttp.access").setLevel(
        logging.WARNING
    )  # access lines carry query strings
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters (phone numbers, message text) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
