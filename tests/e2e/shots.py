"""Screenshots for docs/screenshots/: written only when CONDORITO_SCREENSHOTS=1.

Every run takes them (so the code path is tested), but only a deliberate run replaces the
committed PNGs: otherwise each helper's test run would leave binary changes in its worktree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from playwright.async_api import Page

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 360, "height": 760}
DESKTOP = {"width": 1280, "height": 800}


def target_dir() -> Path:
    """docs/screenshots when asked for, else a throwaway directory."""
    if os.environ.get("CONDORITO_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return Path(tempfile.gettempdir()) / "condorito-shots"


async def shot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save the page as `name`.png; returns the path. Phone-width shots are of the screen only:
    a full-page capture would paint the fixed bottom tab bar in the middle of the page."""
    if page.viewport_size and page.viewport_size["width"] < 720:
        full_page = False
    directory = target_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
