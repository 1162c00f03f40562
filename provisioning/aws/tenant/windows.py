"""Each tenant's RDS maintenance window, staggered by default: a pure function of the slug,
so 100 databases do not all take a pending change in the same half hour."""

from __future__ import annotations

import hashlib

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Half-hour slots between 00:00 and 05:00 UTC, every day: 70 windows.
FIRST_HOUR, SLOTS_PER_NIGHT = 0, 10


def maintenance_window(slug: str) -> str:
    """`ddd:hh:mm-ddd:hh:mm` (UTC, 30 minutes, RDS's format), the same for a slug forever."""
    number = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:4], "big")
    day, slot = divmod(number % (len(DAYS) * SLOTS_PER_NIGHT), SLOTS_PER_NIGHT)
    start = FIRST_HOUR * 60 + 30 * slot
    end = start + 30

    def at(minutes: int) -> str:
        return f"{DAYS[day]}:{minutes // 60:02d}:{minutes % 60:02d}"

    return f"{at(start)}-{at(end)}"
