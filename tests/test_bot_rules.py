"""Issue 11: what the bot answers, on a frozen clock (bot_rules is pure: the time is an argument)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.errors import Invalid
from app.services import bot_config, bot_regex
from app.services.bot_config import BotSettings
from app.services.bot_rules import Facts, decide, is_open, matches
from app.sqlite import fold

TZ = "America/Santiago"
RETURNING = Facts(previous_inbound_at=0)  # a contact who wrote before (long ago)


def at(y: int, mo: int, d: int, h: int, mi: int = 0, tz: str = TZ) -> int:
    """A frozen moment, in milliseconds, given as the business's local time."""
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def settings(**data: object) -> BotSettings:
    base = BotSettings(timezone=TZ, enabled=True)
    return bot_config.parse(data, base)


SHOP = settings(
    business_hours={"mon": [["09:00", "13:00"], ["15:00", "19:00"]], "fri": [["22:00", "02:00"]]},
    holidays=["2026-12-25"],
    welcome_text="¡Hola! Bienvenido.", away_text="Estamos cerrados.", fallback_text="Ya te atienden.",
    fallback_hours=12,
    keywords=[
        {"match": "word", "pattern": "envío", "reply": "Enviamos a todo Chile."},
        {"match": "contains", "pattern": "precio", "reply": "Elige:",
         "menu": [{"label": "Poleras", "reply": "Poleras a $10.000"},
                  {"label": "Gorros", "reply": "Gorros a $5.000"}]},
        {"match": "regex", "pattern": r"^horario|a qu[eé] hora", "reply": "Abrimos a las 9."},
    ],
    handoff_words=["agente", "humano"], handoff_text="Te paso con una persona.",
)
MONDAY_10 = at(2026, 12, 7, 10)  # a Monday, open


def test_business_hours_by_the_tenants_time_zone() -> None:
    assert is_open(SHOP, MONDAY_10)
    assert not is_open(SHOP, at(2026, 12, 7, 14))  # the lunch gap between two ranges
    assert is_open(SHOP, at(2026, 12, 7, 15))
    assert not is_open(SHOP, at(2026, 12, 7, 19))  # the end is exclusive
    # 10:00 in Santiago is 13:00 UTC: the same instant read in UTC would be 13:00, also open, but
    # 12:30 UTC Monday (09:30 Santiago) is open only because the zone is Santiago's.
    assert is_open(SHOP, at(2026, 12, 7, 12, 30, tz="UTC"))
    assert not is_open(SHOP, at(2026, 12, 7, 8, 30, tz="UTC"))  # 05:30 in Santiago
    assert not is_open(SHOP, at(2026, 12, 8, 10))  # Tuesday: no ranges


def test_a_range_across_midnight_and_a_holiday() -> None:
    assert is_open(SHOP, at(2026, 12, 11, 23))  # Friday 23:00
    assert is_open(SHOP, at(2026, 12, 12, 1, 30))  # Saturday 01:30, Friday's range still runs
    assert not is_open(SHOP, at(2026, 12, 12, 2))
    assert not is_open(SHOP, at(2026, 12, 11, 21, 59))
    holiday = settings(business_hours={"fri": [["09:00", "18:00"]], "thu": [["20:00", "03:00"]]},
                       holidays=["2026-12-25", "2026-12-24"])
    assert not is_open(holiday, at(2026, 12, 25, 10))  # Friday, Christmas
    assert not is_open(holiday, at(2026, 12, 25, 1))  # Thursday-night range, Thursday a holiday too
    assert is_open(holiday, at(2026, 12, 18, 10))  # an ordinary Friday


def test_no_hours_set_is_never_closed() -> None:
    none = settings(business_hours={}, away_text="Cerrado")
    assert is_open(none, at(2026, 12, 13, 3))


def test_welcome_once_for_a_first_contact_then_the_next_rules() -> None:
    first = decide(SHOP, Facts(), "hola", MONDAY_10)
    assert (first.rule, first.reply) == ("welcome", "¡Hola! Bienvenido.")
    assert decide(SHOP, RETURNING, "hola", MONDAY_10).rule == "fallback"
    # A first message that also asks something gets the welcome and the answer in one reply.
    both = decide(SHOP, Facts(), "cuanto cuesta el envio?", MONDAY_10)
    assert both.parts == ("welcome", "keyword")
    assert both.reply == "¡Hola! Bienvenido.\n\nEnviamos a todo Chile."


def test_welcome_again_after_n_days() -> None:
    s = settings(welcome_text="Hola de nuevo", welcome_after_days=30)
    recent = Facts(previous_inbound_at=MONDAY_10 - 29 * 86_400_000)
    old = Facts(previous_inbound_at=MONDAY_10 - 30 * 86_400_000)
    assert decide(s, recent, "hola", MONDAY_10).rule == "quiet"
    assert decide(s, old, "hola", MONDAY_10).rule == "welcome"


def test_out_of_hours_answers_once_per_window() -> None:
    sunday = at(2026, 12, 13, 11)
    away = decide(SHOP, RETURNING, "hola", sunday)
    assert (away.rule, away.reply) == ("away", "Estamos cerrados.")
    again = decide(SHOP, Facts(previous_inbound_at=0, last_away_at=sunday), "hola?", sunday + 60_000)
    assert again.rule == "quiet"  # no second "closed", and no "an agent will answer soon"
    # ...but a keyword still answers out of hours once the away text was sent.
    kw = decide(SHOP, Facts(previous_inbound_at=0, last_away_at=sunday), "y el envío?", sunday + 60_000)
    assert kw.rule == "keyword"


def test_keywords_match_without_accents_or_case() -> None:
    assert decide(SHOP, RETURNING, "ENVIO", MONDAY_10).keyword == 0
    assert decide(SHOP, RETURNING, "¿Hacen envío?", MONDAY_10).keyword == 0
    assert decide(SHOP, RETURNING, "reenvios", MONDAY_10).rule == "fallback"  # "word": a whole word
    assert decide(SHOP, RETURNING, "¿A QUÉ HORA abren?", MONDAY_10).keyword == 2  # regex, folded
    assert matches(bot_config.Keyword("contains", "Ñandú", "x"), fold("el ÑANDU azul") or "")


def test_menu_navigation() -> None:
    shown = decide(SHOP, RETURNING, "precios", MONDAY_10)
    assert shown.rule == "keyword" and shown.menu == 1
    assert shown.reply == "Elige:\n\n1. Poleras\n2. Gorros"
    open_menu = Facts(previous_inbound_at=0, menu=1)
    two = decide(SHOP, open_menu, "2", MONDAY_10)
    assert (two.rule, two.reply, two.menu) == ("menu", "Gorros a $5.000", 1)
    assert decide(SHOP, open_menu, "1.", MONDAY_10).reply == "Poleras a $10.000"
    assert decide(SHOP, open_menu, "7", MONDAY_10).rule == "fallback"  # not an option
    assert decide(SHOP, RETURNING, "2", MONDAY_10).rule == "fallback"  # no menu open


def test_fallback_at_most_once_per_window() -> None:
    always_open = settings(business_hours={}, fallback_text="Ya te atienden.", fallback_hours=12)
    assert decide(always_open, RETURNING, "mmm", MONDAY_10).rule == "fallback"
    sent = Facts(previous_inbound_at=0, last_fallback_at=MONDAY_10)
    later = decide(always_open, sent, "mmm", MONDAY_10 + 11 * 3_600_000)
    assert (later.rule, later.reply) == ("fallback_recent", None)
    assert decide(always_open, sent, "mmm", MONDAY_10 + 12 * 3_600_000).rule == "fallback"


def test_handoff_words_and_opt_out() -> None:
    h = decide(SHOP, RETURNING, "quiero hablar con un HUMANO", MONDAY_10)
    assert h.handoff and h.reply == "Te paso con una persona."
    assert not decide(SHOP, RETURNING, "humanos", MONDAY_10).handoff  # whole words only
    stop = decide(SHOP, Facts(), "STOP", MONDAY_10, opt_out=True)
    assert (stop.rule, stop.reply) == ("opt_out", None)


def test_catastrophic_regex_runs_in_linear_steps() -> None:
    """`(a+)+$` backtracks exponentially in Python's re; the NFA visits each state once per char."""
    program = bot_regex.compile_pattern(r"(a+)+$")
    assert not program.search("a" * 900 + "!")
    assert program.steps <= (900 + 2) * len(program.states) * 2
    nested = bot_regex.compile_pattern(r"(x+x+)+y")
    assert not nested.search("x" * 5000)  # only MAX_TEXT characters are read
    assert nested.steps <= (bot_regex.MAX_TEXT + 2) * len(nested.states) * 2


@pytest.mark.parametrize(("pattern", "code"), [
    (r"(a)\1", "regex_unsupported"), (r"(?=a)b", "regex_unsupported"), ("(", "regex_invalid"),
    ("a{1,5000}", "regex_too_complex"), ("x" * 201, "too_long"),
])
def test_unsafe_regex_refused_on_save(pattern: str, code: str) -> None:
    with pytest.raises(Invalid) as err:
        settings(keywords=[{"match": "regex", "pattern": pattern, "reply": "r"}])
    assert err.value.extra["fields"] == {"keywords[0].pattern": code}


def test_invalid_settings_list_every_field() -> None:
    with pytest.raises(Invalid) as err:
        settings(business_hours={"mon": [["9:00", "18:00"]], "xyz": []}, pause_minutes=-1,
                 holidays=["2026-02-30"], timezone="Mars/Base", enabled="yes")
    assert set(err.value.extra["fields"]) == {"business_hours", "pause_minutes", "holidays[0]",
                                              "timezone", "enabled"}
    with pytest.raises(Invalid) as err:
        settings(business_hours={"mon": [["9:00", "18:00"]]},
                 keywords=[{"match": "word", "pattern": " ", "reply": "x", "menu": [{"label": "a"}]}])
    assert set(err.value.extra["fields"]) == {"business_hours.mon[0]", "keywords[0].pattern",
                                              "keywords[0].menu[0].reply"}
