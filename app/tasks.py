"""Stopping the background tasks every service keeps."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has ended (its exception, if any, is not raised)."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
