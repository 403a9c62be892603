"""Phone numbers from referral spreadsheets: E.164, with Excel's damage undone or named.

Excel turns 447911123456 into 4.47911E+11 (the last digits are gone for good) and
07911123456 into 7911123456 (the leading zero is gone, which we can put back). We
recover what can be recovered, say so, and refuse the rest with a reason staff can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from bot.errors import ValidationError

SCIENTIFIC = re.compile(r"^([0-9])(?:[.,]([0-9]*))?[eE]\+?([0-9]{1,2})$")
SPREADSHEET_DECIMAL = re.compile(r"^([0-9]{9,15})[.,]0+$")
SEPARATORS = re.compile(r"[\s\-().]")
NOT_MOBILE = {
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.UAN,
    phonenumbers.PhoneNumberType.VOICEMAIL,
}
MAX_LENGTH = 40


@dataclass(frozen=True)
class CleanPhone:
    e164: str
    note: str | None = None  # set when we repaired what a spreadsheet did


def _undo_spreadsheet(text: str) -> tuple[str, str | None]:
    """Digits from 4.47911123456E+11 or 7911123456.0, or a refusal when digits were lost."""
    scientific = SCIENTIFIC.match(text)
    if scientific:
        digits = scientific.group(1) + (scientific.group(2) or "")
        length = int(scientific.group(3)) + 1
        if len(digits) < length:
            raise ValidationError(
                f"{text} is a number a spreadsheet shortened: its last digits are lost. "
                "Format the phone column as Text, type the numbers again and re-export",
                "spreadsheet_number",
            )
        if len(digits) > length or len(digits) > 15:
            raise ValidationError(f"{text} is not a phone number", "invalid_phone")
        return digits, f"{text} was a number changed by a spreadsheet; read as {digits}"
    decimal = SPREADSHEET_DECIMAL.match(text)
    if decimal:
        return decimal.group(1), f"{text} was a number changed by a spreadsheet"
    return text, None


def clean_phone(raw: object, *, mobile: bool = False, region: str = "GB") -> CleanPhone:
    """E.164 for a number written any usual way (UK numbers written locally accepted).

    With ``mobile``, refuse numbers that cannot receive a text (landlines, 0800, ...).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("a phone number is required", "missing_phone")
    text = raw.strip()
    if len(text) > MAX_LENGTH:
        raise ValidationError("the phone number is too long", "invalid_phone")
    text, note = _undo_spreadsheet(re.sub(r"\s", "", text))
    compact = SEPARATORS.sub("", text)
    if compact.isdigit() and not compact.startswith("0"):
        # A spreadsheet dropped the leading 0 (7911...) or the + (44...): both read as UK.
        if compact.startswith("44") and len(compact) == 12:
            text = "+" + compact
        elif len(compact) == 10:
            text = "0" + compact
        note = note or f"the leading 0 or + was missing; read as {text}"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("not a phone number", "invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("not a valid phone number", "invalid_phone")
    if mobile and phonenumbers.number_type(number) in NOT_MOBILE:
        raise ValidationError("not a mobile number, so it cannot receive texts", "not_mobile")
    e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return CleanPhone(e164, note)
