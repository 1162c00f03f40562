"""`eventually`: the one way a test waits for something the service does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that. After `timeout`
    seconds it fails with `message` (a string, or a function of nothing giving one), else with
    the last value seen. The predicate is always called once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(
                f"{what or 'condition not met'} (after {timeout} s; last value {value!r})"
            )
        time.sleep(interval)
