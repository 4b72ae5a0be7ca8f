"""Phone numbers as shops write them -> E.164 digits, with the tenant's default country."""

from __future__ import annotations

import pytest

from app.services import phones
from app.services.phones import PhoneError, normalize


@pytest.mark.parametrize(("raw", "country", "digits"), [
    # Chile: mobiles with and without +56, spaces, the old leading 0, landlines by area code
    ("+56 9 8765 4321", "CL", "56987654321"),
    ("9 8765 4321", "CL", "56987654321"),
    ("987654321", "CL", "56987654321"),
    ("56987654321", "CL", "56987654321"),
    ("(2) 2345 6789", "CL", "56223456789"),
    ("+56-9-8765-4321", "CL", "56987654321"),
    # Argentina: the local "0" and "15" of mobiles become WhatsApp's 9 after +54
    ("011 15 2345-6789", "AR", "5491123456789"),
    ("11 15 2345 6789", "AR", "5491123456789"),
    ("+54 9 11 2345 6789", "AR", "5491123456789"),
    ("5491123456789", "CL", "5491123456789"),  # another country's number without "+"
    # Mexico: the old mobile "1" after +52 and the "044" local prefix are the same number
    ("55 1234 5678", "MX", "525512345678"),
    ("+52 1 55 1234 5678", "MX", "525512345678"),
    ("5215512345678", "CL", "525512345678"),
    ("044 55 1234 5678", "MX", "525512345678"),
    # Spain: with +34, with 0034, bare
    ("612 34 56 78", "ES", "34612345678"),
    ("+34 612345678", "ES", "34612345678"),
    ("0034 612 345 678", "CL", "34612345678"),
    ("34612345678", "CL", "34612345678"),
])
def test_numbers_as_written_become_e164(raw: str, country: str, digits: str) -> None:
    phone = normalize(raw, country)
    assert phone.digits == digits
    assert phone.e164 == "+" + digits


def test_display_and_region() -> None:
    phone = normalize("9 8765 4321", "CL")
    assert (phone.display, phone.region) == ("+56 9 8765 4321", "CL")
    assert normalize("011 15 2345-6789", "AR").region == "AR"


def test_the_default_country_decides_a_number_without_plus() -> None:
    assert normalize("9 8765 4321", "CL").digits == "56987654321"
    assert normalize("9 8765 4321", "ES").digits == "34987654321"  # a Spanish landline there
    assert normalize("55 1234 5678", "MX").digits == "525512345678"
    with pytest.raises(PhoneError):
        normalize("55 1234 5678", "CL")  # not a Chilean number: reported, not guessed


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty"), ("   ", "empty"), (None, "empty"),
    ("llamar", "not_a_number"), ("+56 9 8765 4321 ext 2", "not_a_number"), ("9" * 41, "not_a_number"),
    ("123", "too_short"),
    ("+56 9 8765 4321 0000", "too_long"),
    ("+56 1 2345 6789", "invalid"),
    ("22345678", "too_short"),  # a Chilean landline missing a digit is not read as a foreign number
])
def test_bad_numbers_say_why(raw: object, reason: str) -> None:
    with pytest.raises(PhoneError) as err:
        normalize(raw, "CL")
    assert err.value.reason == reason
    assert err.value.reason in phones.REASONS


def test_country_from_time_zone_and_fallback() -> None:
    assert phones.country_for_timezone("America/Argentina/Buenos_Aires") == "AR"
    assert phones.country_for_timezone("Europe/Madrid") == "ES"
    assert phones.country_for_timezone("America/Mexico_City") == "MX"
    assert phones.country_for_timezone("UTC") == "CL"
    assert phones.default_country(None, "Europe/Madrid") == "ES"
    assert phones.default_country("PE", "Europe/Madrid") == "PE"


def test_check_country() -> None:
    assert phones.check_country("ar") == "AR"
    for bad in ("XX", "", None, 56, "CHL"):
        with pytest.raises(PhoneError):
            phones.check_country(bad)
