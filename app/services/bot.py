"""The auto-reply bot: one way to evaluate a message, shared by the pipeline and the try box."""

from __future__ import annotations

from app.services import bot_rules
from app.services.bot_config import BotSettings
from app.services.bot_rules import Answer, Facts


def evaluate(settings: BotSettings, facts: Facts, text: str, now: int) -> Answer:
    """What the bot would answer; the settings page's try box and the pipeline both call this."""
    return bot_rules.decide(settings, facts, text, now)
