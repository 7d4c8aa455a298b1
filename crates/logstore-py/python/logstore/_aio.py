"""The asyncio side of ``Log.durable_async``."""

from __future__ import annotations

import asyncio
from typing import Optional


def settle(future: "asyncio.Future[None]", error: Optional[BaseException]) -> None:
    """Completes ``future`` (on its loop's thread) unless it was cancelled."""
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
