"""WCAG AA contrast of the design tokens (static/css/tokens.css), light and dark: computed, not
judged by eye. Body text needs 4.5:1; large text, icons and the dots 3:1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TOKENS = Path(__file__).resolve().parent.parent / "static" / "css" / "tokens.css"

# (foreground, background, minimum): every pairing the pages use for text.
PAIRS = [
    ("text", "surface", 4.5), ("text", "bg", 4.5), ("text", "surface-2", 4.5),
    ("text-muted", "surface", 4.5), ("text-muted", "bg", 4.5), ("text-muted", "surface-2", 4.5),
    ("on-brand", "brand", 4.5),                     # top bar, primary buttons
    ("brand", "surface", 4.5),                      # badge on the top bar, links on cards (light)
    ("warn", "warn-soft", 4.5), ("danger", "danger-soft", 4.5), ("ok", "ok-soft", 4.5),
    ("danger", "surface", 4.5),                     # "Unlink" / "Disable" buttons
    ("text", "bubble-out", 4.5), ("text-muted", "bubble-out", 4.5), ("text", "chat-bg", 4.5),
    ("read", "surface", 3.0), ("read", "bubble-out", 3.0),  # read ticks are icons
    ("ok", "surface", 3.0),
]


def blocks() -> dict[str, dict[str, str]]:
    css = TOKENS.read_text()
    light = css[css.index(":root"):css.index("}")]
    dark_start = css.index("prefers-color-scheme: dark")
    dark = css[dark_start:css.index("}", dark_start)]
    parse = lambda text: dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", text))  # noqa: E731
    base = parse(light)
    return {"light": base, "dark": {**base, **parse(dark)}}


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_ratio_matches_known_values() -> None:
    assert round(ratio("#000000", "#ffffff"), 1) == 21.0
    assert round(ratio("#0b7a55", "#ffffff"), 1) == 5.3  # DESIGN.md's figure for the brand


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_pair_meets_wcag_aa(theme: str) -> None:
    colours = blocks()[theme]
    failures = []
    for fg, bg, minimum in PAIRS:
        if theme == "dark" and (fg, bg) == ("brand", "surface"):
            continue  # dark pages draw links and badges in --ok, not --brand (app.css)
        got = ratio(colours[fg], colours[bg])
        if got < minimum:
            failures.append(f"{fg} on {bg}: {got:.2f} < {minimum}")
    assert not failures, failures
