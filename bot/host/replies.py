"""Fixed replies the host sends itself, in English source form (translated via catalogs)."""

from __future__ import annotations

from bot.i18n.catalogs import Catalogs

CONTEXT = "service"
OPTED_OUT = "You will not get any more messages from us. Reply START to start again."
OPTED_IN = "Welcome back. You will get your check-ins again. Reply STOP at any time to stop."
HELP = (
    "This is your pain service check-in. Reply COACH to ask your coach to contact you. "
    "Reply STOP to stop messages. In an emergency call 999."
)
OUTSIDE_FLOW = (
    "Thank you for your message. Your coach reads messages in working hours. "
    "Reply COACH if you would like them to contact you."
)
COACH_ASKED = "Thank you. We have asked your coach to contact you in working hours."
MEDIA = "Thank you. Your coach will look at what you sent in working hours."
NUDGE = "Just a gentle reminder: please reply to our last message when you have a moment."
CARER_REMINDER = (
    "Reminder: the session you asked us to tell you about is on {session_date} at "
    "{session_time}, at {venue}. Reply STOP to stop these reminders."
)
TELEGRAM_NOT_LINKED = (
    "Hello. This chat is not connected to a check-in service. "
    "If your pain service sent you a link, please open that link."
)
TELEGRAM_LINK_UNUSABLE = (
    "This link cannot be used. It may have expired or already been used. "
    "Please ask your pain service for a new link."
)
TELEGRAM_LINKED = "Thank you. Your check-ins will now come here. Reply STOP at any time to stop."
UNKNOWN_SENDER = "Sorry, we do not recognise this number. Please contact your pain service."


def reply(catalogs: Catalogs, language: str, source: str) -> str:
    return catalogs.text(language, CONTEXT, source)
