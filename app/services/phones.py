"""Phone numbers as people type them ("9 8765 4321", "011 15 2345-6789") -> E.164.

Shops paste numbers from Excel and their phone's address book: with or without the country code,
with spaces, dashes, a leading 0 or Argentina's "15". `phonenumbers` (Google's libphonenumber)
knows every country's dialling plan; this module adds what WhatsApp needs on top of it and the
tenant's default country (the country a number without a "+" belongs to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

FALLBACK_COUNTRY: Final = "CL"  # the first shops using Condorito are Chilean
MAX_INPUT: Final = 40
# Fewest digits of a number written with its country code (+56 9 xxxx xxxx, +598 9xxx xxxx: 11);
# shorter digit strings are local numbers, never read as another country's (a typo stays a typo).
MIN_WITH_COUNTRY: Final = 11  # longer than any written phone number, even with spaces and an extension

# The countries offered in Settings, in this order (our users': Latin America and Spain first).
# Any region phonenumbers knows is accepted over the API; this is only the short list to pick from.
COUNTRIES: Final = ("CL", "AR", "MX", "PE", "CO", "UY", "BO", "PY", "EC", "VE", "ES", "US", "BR",
                    "CR", "GT", "DO", "PA", "SV", "HN", "NI", "CU", "PR")

# Time zone -> country, to guess a new tenant's default country before anyone sets it.
# Only zones that belong to one country; an unknown zone falls back to FALLBACK_COUNTRY.
_ZONE_COUNTRY: Final = {
    "America/Santiago": "CL", "America/Punta_Arenas": "CL", "Pacific/Easter": "CL",
    "America/Buenos_Aires": "AR", "America/Cordoba": "AR", "America/Mendoza": "AR",
    "America/Mexico_City": "MX", "America/Monterrey": "MX", "America/Cancun": "MX",
    "America/Tijuana": "MX", "America/Merida": "MX", "America/Chihuahua": "MX", "America/Hermosillo": "MX",
    "America/Mazatlan": "MX", "America/Lima": "PE", "America/Bogota": "CO", "America/Montevideo": "UY",
    "America/La_Paz": "BO", "America/Asuncion": "PY", "America/Guayaquil": "EC", "Pacific/Galapagos": "EC",
    "America/Caracas": "VE", "Europe/Madrid": "ES", "Atlantic/Canary": "ES", "Africa/Ceuta": "ES",
    "America/Sao_Paulo": "BR", "America/Costa_Rica": "CR", "America/Guatemala": "GT",
    "America/Santo_Domingo": "DO", "America/Panama": "PA", "America/El_Salvador": "SV",
    "America/Tegucigalpa": "HN", "America/Managua": "NI", "America/Havana": "CU",
    "America/Puerto_Rico": "PR", "America/New_York": "US", "America/Chicago": "US",
    "America/Denver": "US", "America/Los_Angeles": "US",
}

# Reasons a number is refused (stable codes: the preview and the UI translate them).
REASONS: Final = ("empty", "not_a_number", "too_short", "too_long", "invalid")
_SEPARATORS = re.compile(r"[\s\-./()\u00a0]")


class PhoneError(ValueError):
    """A number that cannot be a WhatsApp number; `reason` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Phone:
    """A normalised number."""

    digits: str  # E.164 without "+": what contacts.phone and the providers hold
    region: str  # ISO 3166 country of the number
    display: str  # "+56 9 8765 4321", for people

    @property
    def e164(self) -> str:
        """The number with its "+"."""
        return "+" + self.digits


def check_country(code: object) -> str:
    """An ISO 3166-1 alpha-2 code phonenumbers knows ("cl" -> "CL"), or PhoneError('invalid')."""
    if isinstance(code, str) and code.upper() in phonenumbers.SUPPORTED_REGIONS:
        return code.upper()
    raise PhoneError("invalid")


def country_for_timezone(zone: str | None) -> str:
    """The country a time zone belongs to, or FALLBACK_COUNTRY."""
    if zone in _ZONE_COUNTRY:
        return _ZONE_COUNTRY[zone]
    if zone and zone.startswith("America/Argentina/"):
        return "AR"
    return FALLBACK_COUNTRY


def default_country(chosen: str | None, zone: str | None) -> str:
    """A tenant's default country: the one chosen in Settings, else its time zone's."""
    return chosen or country_for_timezone(zone)


def _parse(text: str, country: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, country)
    except NumberParseException:
        return None


def _candidates(text: str, country: str) -> list[str]:
    """Other ways to read a written number, tried in order when the plain reading is invalid."""
    digits = "".join(ch for ch in text if ch.isdigit())
    out: list[str] = []
    if text.startswith("00"):
        out.append("+" + digits[2:])  # the international prefix most countries dial
    elif not text.startswith("+") and len(digits) >= MIN_WITH_COUNTRY:
        # Written with its country code but no "+" ("5491123456789", "34612345678").
        out.append("+" + digits)
    if country == "MX" or digits.startswith("52"):
        # Mexico dropped the mobile "1" after +52 and the local "044"/"045" prefixes in 2019, but
        # address books (and WhatsApp's own ids, "521...") still carry them: the number is the same.
        national = digits.removeprefix("52") if text.startswith("+") or digits.startswith("521") else digits
        if national.startswith("1") and len(national) == 11:
            out.append("+52" + national[1:])
        if national[:3] in ("044", "045") and len(national) == 13:
            out.append("+52" + national[3:])
    return out


def normalize(raw: object, country: str) -> Phone:
    """E.164 for a written number; `country` is the one assumed without a "+". PhoneError if not."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise PhoneError("empty")
    text = _SEPARATORS.sub("", str(raw).strip())
    if len(text) > MAX_INPUT or not re.fullmatch(r"\+?\d+", text):
        raise PhoneError("not_a_number")
    best = _parse(text, country)
    if best is None:
        raise PhoneError("not_a_number")
    if not phonenumbers.is_valid_number(best):
        for other in _candidates(text, country):
            number = _parse(other, country)
            if number is not None and phonenumbers.is_valid_number(number):
                best = number
                break
        else:
            reason = phonenumbers.is_possible_number_with_reason(best)
            if reason == ValidationResult.TOO_SHORT:
                raise PhoneError("too_short")
            if reason == ValidationResult.TOO_LONG:
                raise PhoneError("too_long")
            raise PhoneError("invalid")
    e164 = phonenumbers.format_number(best, PhoneNumberFormat.E164)
    return Phone(digits=e164[1:], region=phonenumbers.region_code_for_number(best) or country,
                 display=phonenumbers.format_number(best, PhoneNumberFormat.INTERNATIONAL))
