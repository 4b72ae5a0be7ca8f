"""The bot's settings: their shape (PROTOCOL §2, GET/PUT /bot), defaults and validation.

Pure: no SQL. `parse` turns a JSON body into settings or raises Invalid listing every bad field
(`fields`: {"keywords[0].pattern": "regex_unsupported", ...}), so the settings page can show
each error next to its control.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import Invalid
from app.services.bot_regex import UnsafePattern, compile_pattern
from app.text import clean_text

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
MATCHES = ("word", "contains", "regex")
MAX_TEXT = 1000  # a bot reply; WhatsApp allows 4096, a customer reads far less
MAX_KEYWORDS = 50
MAX_MENU = 9  # one digit per option, as customers answer on a phone keypad
MAX_RANGES = 4  # per weekday: morning, afternoon, evening... more is a typo
MAX_HOLIDAYS = 100
MAX_HANDOFF_WORDS = 20
MAX_WORD = 40
MAX_PAUSE_MINUTES = 7 * 24 * 60  # a week; 0 = until the conversation is closed
MAX_WELCOME_DAYS = 365
MAX_FALLBACK_HOURS = 7 * 24
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One numbered choice shown under a keyword's reply."""

    key: str
    label: str
    reply: str


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword rule: how it matches, what it matches, what it answers (and its menu)."""

    match: str
    pattern: str
    reply: str
    menu: tuple[MenuOption, ...] = ()


@dataclass(frozen=True, slots=True)
class BotSettings:
    """Everything the rules read. Times are "HH:MM" in `timezone` (the business's)."""

    enabled: bool = False
    timezone: str = "UTC"
    business_hours: dict[str, tuple[tuple[str, str], ...]] = field(
        default_factory=lambda: {d: () for d in DAYS})
    holidays: tuple[str, ...] = ()
    welcome_text: str = ""
    welcome_after_days: int = 0  # 0: only a contact's very first message
    away_text: str = ""
    fallback_text: str = ""
    fallback_hours: int = 12
    keywords: tuple[Keyword, ...] = ()
    handoff_words: tuple[str, ...] = ("agente", "humano", "persona")
    handoff_text: str = ""
    pause_minutes: int = 60

    def public(self) -> dict[str, Any]:
        """The JSON shape of GET /bot."""
        data = asdict(self)
        data["business_hours"] = {d: [list(r) for r in self.business_hours.get(d, ())] for d in DAYS}
        data["holidays"] = list(self.holidays)
        data["handoff_words"] = list(self.handoff_words)
        data["keywords"] = [{"match": k.match, "pattern": k.pattern, "reply": k.reply,
                             "menu": [asdict(o) for o in k.menu]} for k in self.keywords]
        return data


def defaults(timezone: str, texts: dict[str, str]) -> BotSettings:
    """A tenant's settings before the first save: off, with texts in the business's language."""
    weekday = (("09:00", "18:00"),)
    hours = {d: weekday if d not in ("sat", "sun") else () for d in DAYS}
    return BotSettings(timezone=timezone, business_hours=hours, **texts)


class _Errors:
    """Collects field errors so one answer lists them all."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, code: str) -> None:
        self.fields.setdefault(path, code)


def _text(data: dict[str, Any], name: str, current: str, errors: _Errors, path: str | None = None,
          *, required: bool = False, max_len: int = MAX_TEXT) -> str:
    value = data.get(name, current)
    path = path or name
    if not isinstance(value, str):
        errors.add(path, "not_text")
        return current
    value = clean_text(value).strip()
    if required and not value:
        errors.add(path, "required")
    if len(value) > max_len:
        errors.add(path, "too_long")
    return value


def _int(data: dict[str, Any], name: str, current: int, lo: int, hi: int, errors: _Errors) -> int:
    value = data.get(name, current)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors.add(name, "out_of_range")
        return current
    return value


def _hours(value: Any, errors: _Errors) -> dict[str, tuple[tuple[str, str], ...]]:
    if not isinstance(value, dict) or set(value) - set(DAYS):
        errors.add("business_hours", "invalid")
        return {d: () for d in DAYS}
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for day in DAYS:
        ranges = value.get(day, [])
        if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
            errors.add(f"business_hours.{day}", "invalid")
            ranges = []
        good: list[tuple[str, str]] = []
        for i, r in enumerate(ranges):
            ok = (isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) and _TIME_RE.match(x)
                                                              for x in r))
            if not ok or r[0] == r[1] or r[0] == "24:00":
                # start == end would be either nothing or the whole day: say which instead
                errors.add(f"business_hours.{day}[{i}]", "invalid_time")
                continue
            good.append((r[0], r[1]))
        out[day] = tuple(good)
    return out


def _holidays(value: Any, errors: _Errors) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        errors.add("holidays", "invalid")
        return ()
    out: list[str] = []
    for i, d in enumerate(value):
        try:
            if not isinstance(d, str) or not _DATE_RE.match(d):
                raise ValueError(d)
            date.fromisoformat(d)
        except ValueError:
            errors.add(f"holidays[{i}]", "invalid_date")
            continue
        out.append(d)
    return tuple(sorted(set(out)))


def _words(value: Any, errors: _Errors) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_HANDOFF_WORDS:
        errors.add("handoff_words", "invalid")
        return ()
    out: list[str] = []
    for i, w in enumerate(value):
        if not isinstance(w, str) or not clean_text(w).strip() or len(w) > MAX_WORD:
            errors.add(f"handoff_words[{i}]", "invalid")
            continue
        out.append(clean_text(w).strip())
    return tuple(dict.fromkeys(out))


def _keyword(i: int, raw: Any, errors: _Errors) -> Keyword | None:
    path = f"keywords[{i}]"
    if not isinstance(raw, dict):
        errors.add(path, "invalid")
        return None
    match = raw.get("match", "contains")
    if match not in MATCHES:
        errors.add(f"{path}.match", "invalid")
        match = "contains"
    pattern = _text(raw, "pattern", "", errors, f"{path}.pattern", required=True, max_len=200)
    if match == "regex" and pattern:
        try:
            compile_pattern(pattern)
        except UnsafePattern as exc:
            errors.add(f"{path}.pattern", exc.code)
    reply = _text(raw, "reply", "", errors, f"{path}.reply", required=True)
    menu_raw = raw.get("menu", [])
    if not isinstance(menu_raw, list) or len(menu_raw) > MAX_MENU:
        errors.add(f"{path}.menu", "invalid")
        menu_raw = []
    menu: list[MenuOption] = []
    for j, opt in enumerate(menu_raw):
        opath = f"{path}.menu[{j}]"
        if not isinstance(opt, dict):
            errors.add(opath, "invalid")
            continue
        label = _text(opt, "label", "", errors, f"{opath}.label", required=True, max_len=100)
        answer = _text(opt, "reply", "", errors, f"{opath}.reply", required=True)
        menu.append(MenuOption(str(j + 1), label, answer))  # keys are positions: "1", "2"...
    return Keyword(match, pattern, reply, tuple(menu))


def parse(data: dict[str, Any], current: BotSettings) -> BotSettings:
    """Settings from a PUT body; absent fields keep their current value. Invalid lists the fields."""
    errors = _Errors()
    enabled = data.get("enabled", current.enabled)
    if not isinstance(enabled, bool):
        errors.add("enabled", "invalid")
        enabled = current.enabled
    timezone = data.get("timezone", current.timezone)
    try:
        if not isinstance(timezone, str) or not 1 <= len(timezone) <= 64:
            raise ValueError(timezone)
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.add("timezone", "invalid_timezone")
        timezone = current.timezone
    keywords = current.keywords
    if "keywords" in data:
        raw = data["keywords"]
        if not isinstance(raw, list) or len(raw) > MAX_KEYWORDS:
            errors.add("keywords", "invalid")
        else:
            keywords = tuple(k for i, r in enumerate(raw) if (k := _keyword(i, r, errors)) is not None)
    settings = replace(
        current,
        enabled=enabled,
        timezone=timezone,
        business_hours=(_hours(data["business_hours"], errors) if "business_hours" in data
                        else current.business_hours),
        holidays=_holidays(data["holidays"], errors) if "holidays" in data else current.holidays,
        welcome_text=_text(data, "welcome_text", current.welcome_text, errors),
        welcome_after_days=_int(data, "welcome_after_days", current.welcome_after_days, 0,
                                MAX_WELCOME_DAYS, errors),
        away_text=_text(data, "away_text", current.away_text, errors),
        fallback_text=_text(data, "fallback_text", current.fallback_text, errors),
        fallback_hours=_int(data, "fallback_hours", current.fallback_hours, 1, MAX_FALLBACK_HOURS,
                            errors),
        keywords=keywords,
        handoff_words=(_words(data["handoff_words"], errors) if "handoff_words" in data
                       else current.handoff_words),
        handoff_text=_text(data, "handoff_text", current.handoff_text, errors),
        pause_minutes=_int(data, "pause_minutes", current.pause_minutes, 0, MAX_PAUSE_MINUTES, errors),
    )
    if errors.fields:
        raise Invalid("some bot settings are invalid", code="invalid_bot_settings",
                      fields=errors.fields)
    return settings


def from_stored(data: dict[str, Any], base: BotSettings) -> BotSettings:
    """Settings as stored (validated when saved); a field that no longer validates keeps the
    default rather than breaking the bot."""
    try:
        return parse(data, base)
    except Invalid:
        good = {k: v for k, v in data.items() if _field_ok(k, v, base)}
        return parse(good, base)


def _field_ok(name: str, value: Any, base: BotSettings) -> bool:
    try:
        parse({name: value}, base)
    except Invalid:
        return False
    return True
