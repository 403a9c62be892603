"""CPU per inbound webhook of the Twilio signature check, in microseconds.

Every Twilio webhook is signed; ``RequestValidator.validate`` signs the form twice (the
URL with and without its port), ``bot.web.webhooks.twilio.signed`` once when the
request was signed for the URL as configured, as Twilio signs it. Process CPU time,
best of ``--repeat`` rounds:

    python bench/signature.py
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from bench.harness import emit
from bot.web.webhooks.twilio import signed

URL = "https://checkins.example.org/webhooks/twilio"
SID = "SM" + "0123456789abcdef" * 2
FORM = MultiDict(
    {"MessageSid": SID, "SmsMessageSid": SID, "SmsSid": SID, "AccountSid": "AC" + "f" * 32,
     "MessagingServiceSid": "MG" + "e" * 32, "From": "+447911123456", "To": "+447700900123",
     "Body": "7", "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
     "ApiVersion": "2010-04-01", "FromCountry": "GB", "ToCountry": "GB"}
)  # fmt: skip


def per_call(check: Callable[[], bool], calls: int, repeat: int) -> float:
    """Best round's CPU microseconds a call."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            if not check():
                raise SystemExit("the signature did not validate")
        best = min(best, time.process_time() - started)
    return round(best / calls * 1e6, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    validator = RequestValidator("a-32-character-auth-token-000000")
    signature = validator.compute_signature(URL, FORM)
    emit(
        {
            "form_fields": len(FORM),
            "validate_us": per_call(
                lambda: validator.validate(URL, FORM, signature), args.calls, args.repeat
            ),
            "signed_us": per_call(
                lambda: signed(validator, URL, FORM, signature), args.calls, args.repeat
            ),
        }
    )


if __name__ == "__main__":
    main()
