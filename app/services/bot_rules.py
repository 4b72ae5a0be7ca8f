"""What the bot answers: settings + what we know of the conversation + the message + the clock.

Pure (no SQL, no clock of its own): the pipeline (app/services/bot.py) and the settings page's
"try a message" box both call `decide`, so the box shows exactly what a customer would get.

Order, first applicable wins (issue 11): a customer asking for a person (hand-off) -> welcome
for a first message (or the first after `welcome_after_days`), which may be followed by the
answer of the next rules -> a choice from the menu the bot just showed -> out-of-hours (once
per `fallback_hours`) -> keyword rules in the owner's order -> fallback (at most once per
`fallback_hours`, and never out of hours: "an agent will answer soon" would not be true).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.services.bot_config import DAYS, BotSettings, Keyword
from app.services.bot_regex import Program, UnsafePattern, compile_pattern
from app.sqlite import fold

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Facts:
    """What the pipeline knows of the conversation before this message (or burst)."""

    previous_inbound_at: int | None = None  # the contact's last message before; None: first ever
    last_away_at: int | None = None
    last_fallback_at: int | None = None
    menu: int | None = None  # index of the keyword whose menu the bot showed last


@dataclass(frozen=True, slots=True)
class Answer:
    """The decision. `rule` names what answered (or, with no reply, why the bot stays quiet)."""

    rule: str  # handoff | welcome | menu | away | keyword | fallback | opt_out | quiet | fallback_recent
    reply: str | None = None
    parts: tuple[str, ...] = ()  # every rule that wrote a part of the reply, in order
    keyword: int | None = None  # the keyword (index) that answered
    menu: int | None = None  # the menu open after this answer
    handoff: bool = False


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def is_open(settings: BotSettings, now_ms: int) -> bool:
    """Business hours at `now_ms` in the business's time zone.

    A range belongs to the weekday it starts on; one whose end is before its start runs past
    midnight into the next day (["22:00", "02:00"] on Friday covers Saturday 01:00). A holiday
    is closed all day, and a range starting on a holiday does not open either. No hours at all
    means hours are not set: never "closed".
    """
    if not any(settings.business_hours.get(d) for d in DAYS):
        return True
    local = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(settings.timezone))
    today, minute = local.date(), local.hour * 60 + local.minute
    yesterday = today - timedelta(days=1)
    if today.isoformat() in settings.holidays:
        return False
    for start, end in settings.business_hours.get(DAYS[today.weekday()], ()):
        s, e = _minutes(start), _minutes(end)
        if (s < e and s <= minute < e) or (s > e and minute >= s):
            return True
    if yesterday.isoformat() in settings.holidays:
        return False
    for start, end in settings.business_hours.get(DAYS[yesterday.weekday()], ()):
        s, e = _minutes(start), _minutes(end)
        if s > e and minute < e:
            return True
    return False


@lru_cache(maxsize=1024)
def _program(pattern: str) -> Program | None:
    try:
        return compile_pattern(pattern)
    except UnsafePattern:  # validated on save; a stored one that no longer compiles never matches
        return None


@lru_cache(maxsize=1024)
def _word_re(folded_pattern: str) -> re.Pattern[str]:
    # An escaped literal between non-word guards: no repetition, so `re` cannot backtrack here.
    return re.compile(r"(?<!\w)" + re.escape(folded_pattern) + r"(?!\w)")


def matches(rule: Keyword, folded_text: str) -> bool:
    """Does a keyword rule match a message (already folded: lower case, no accents)?"""
    pattern = fold(rule.pattern) or ""
    if rule.match == "word":
        return bool(pattern) and _word_re(pattern).search(folded_text) is not None
    if rule.match == "contains":
        return bool(pattern) and pattern in folded_text
    program = _program(rule.pattern)
    return program is not None and program.search(folded_text)


def _with_menu(rule: Keyword) -> str:
    if not rule.menu:
        return rule.reply
    return rule.reply + "\n\n" + "\n".join(f"{o.key}. {o.label}" for o in rule.menu)


def _handoff(settings: BotSettings, folded: str) -> bool:
    return any(_word_re(w).search(folded) for w in (fold(x) or "" for x in settings.handoff_words) if w)


def _within(at: int | None, now_ms: int, hours: int) -> bool:
    return at is not None and now_ms - at < hours * HOUR_MS


def decide(settings: BotSettings, facts: Facts, text: str, now_ms: int, *,
           opt_out: bool = False) -> Answer:
    """The bot's answer to `text` (one message, or a burst joined by newlines) at `now_ms`."""
    if opt_out:  # the customer asked to stop: the bot adds nothing (opt-out has its own reply)
        return Answer("opt_out")
    folded = fold(text) or ""
    if _handoff(settings, folded):
        return Answer("handoff", settings.handoff_text or None, ("handoff",) if settings.handoff_text
                      else (), handoff=True)
    parts: list[tuple[str, str]] = []
    welcome = settings.welcome_text and (
        facts.previous_inbound_at is None
        or (settings.welcome_after_days > 0
            and now_ms - facts.previous_inbound_at >= settings.welcome_after_days * DAY_MS))
    if welcome:
        parts.append(("welcome", settings.welcome_text))
    rest = _after_welcome(settings, facts, folded, now_ms, allow_fallback=not parts)
    menu = facts.menu
    if rest is not None:
        parts.append((rest.rule, rest.reply or ""))
        menu = rest.menu
    if not parts:
        return Answer("fallback_recent" if _within(facts.last_fallback_at, now_ms,
                                                   settings.fallback_hours)
                      and settings.fallback_text else "quiet", menu=facts.menu)
    return Answer(parts[0][0], "\n\n".join(p[1] for p in parts), tuple(p[0] for p in parts),
                  keyword=rest.keyword if rest else None, menu=menu)


def _after_welcome(settings: BotSettings, facts: Facts, folded: str, now_ms: int, *,
                   allow_fallback: bool) -> Answer | None:
    lines = folded.strip().splitlines()
    choice = lines[-1].strip().rstrip(".)") if lines else ""
    if facts.menu is not None and facts.menu < len(settings.keywords):
        for option in settings.keywords[facts.menu].menu:
            if choice == option.key:
                return Answer("menu", option.reply, keyword=facts.menu, menu=facts.menu)
    if not is_open(settings, now_ms):
        if settings.away_text and not _within(facts.last_away_at, now_ms, settings.fallback_hours):
            return Answer("away", settings.away_text, menu=None)
        allow_fallback = False  # closed: nobody will "answer soon"
    for i, rule in enumerate(settings.keywords):
        if matches(rule, folded):
            return Answer("keyword", _with_menu(rule), keyword=i, menu=i if rule.menu else None)
    if (allow_fallback and settings.fallback_text
            and not _within(facts.last_fallback_at, now_ms, settings.fallback_hours)):
        return Answer("fallback", settings.fallback_text, menu=None)
    return None
