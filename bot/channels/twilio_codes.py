"""Twilio error codes that drive what we do, with wording staff can act on.

Descriptions never contain the provider's own message, which may quote the
phone number.
"""

from __future__ import annotations

OPTED_OUT = "21610"  # the recipient replied STOP to this sender: blocked until START
RATE_LIMITED = "20429"  # REST concurrency: never processed, always safe to retry
OUTSIDE_WINDOW = "63016"  # WhatsApp free-form message outside the 24-hour window

DESCRIPTIONS = {
    "20003": "Twilio rejected our credentials (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)",
    "20429": "Twilio asked us to slow down",
    "21211": "the phone number is not valid",
    "21408": "sending to this country is not enabled on the Twilio account",
    "21608": "the Twilio trial account can only send to verified numbers",
    "21610": "the participant replied STOP to our number (unsubscribed)",
    "21611": "the sender's queue at Twilio is full",
    "21614": "the number is not a mobile number",
    "21617": "the message is longer than 1600 characters",
    "21654": "the WhatsApp template variables were sent without a template",
    "21656": "the WhatsApp template variables are not valid",
    "30003": "the phone is switched off or unreachable",
    "30004": "the message was blocked by the recipient's phone or network",
    "30005": "the number is unknown or no longer in use",
    "30006": "the number is a landline or cannot receive texts",
    "30007": "the message was filtered by the carrier (looks like spam)",
    "30008": "the carrier could not deliver the message",
    "30036": "the message waited too long in Twilio's queue",
    "63003": "the number has no WhatsApp account",
    "63014": "the participant blocked our WhatsApp number",
    "63016": "WhatsApp only allows templates outside the 24-hour window",
    "63018": "our WhatsApp sending limit was exceeded",
    "63024": "the WhatsApp recipient is not valid",
}


def describe(code: str | None) -> str:
    if not code:
        return "the provider did not say why"
    return f"{DESCRIPTIONS.get(code, 'provider error')} (Twilio error {code})"
