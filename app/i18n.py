"""User-facing text in Spanish (the default) and English. Error codes map to messages here.

The strings live in `app/locales/*.json`, one file per area of the app (core, shell, chat, ...)
so that work on one area does not touch another's file. Each file maps a key to
`{"es": ..., "en": ...}`; a key defined twice is an error at import, not a silent override.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

LANGS = ("es", "en")
DEFAULT_LANG = "es"  # most of our users speak Spanish
LANG_COOKIE = "lang"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def load_text(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Merge every area file; a duplicate key or a missing language fails loudly."""
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.json")):
        area: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        for key, entry in area.items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is already defined")
            missing = [lang for lang in LANGS if not entry.get(lang)]
            if missing:
                raise ValueError(f"{path.name}: key {key!r} lacks {', '.join(missing)}")
            merged[key] = entry
    return merged


TEXT: dict[str, dict[str, str]] = load_text()


def t(key: str, lang: str = DEFAULT_LANG, **values: object) -> str:
    """Translate a key (falls back to Spanish, then to the key itself)."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**values) if values else text


def client_text(lang: str) -> dict[str, str]:
    """Every string in one language, for the browser (static/js/i18n.js reads it from the page)."""
    return {key: entry.get(lang) or entry[DEFAULT_LANG] for key, entry in TEXT.items()}


def set_lang_cookie(response: web.StreamResponse, lang: str) -> None:
    """Remember the interface language (after sign-in: the user's, else the business default)."""
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax", path="/")


def pick_lang(request: web.Request) -> str:
    """The language for a request: ?lang=, then the cookie, then Accept-Language."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return DEFAULT_LANG
