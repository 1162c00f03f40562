"""Which tenant stacks go in which wave: a canary alone, then growing waves, then the rest.
Pure: a list of slugs in, a list of waves out."""

from __future__ import annotations

from collections.abc import Sequence

# After the canary (a wave of one), waves of 5 and 25 tenants, then everyone left.
DEFAULT_SIZES = (1, 5, 25)


def plan_waves(
    slugs: Sequence[str], *, canary: str | None = None, sizes: Sequence[int] = DEFAULT_SIZES
) -> list[list[str]]:
    """`slugs` in catalogue order, cut into waves of `sizes` and one last wave of the rest; the
    canary (default: the first tenant) is moved to the front, so it is the first wave."""
    if any(size < 1 for size in sizes):
        raise ValueError(f"wave sizes must be at least 1, got {list(sizes)}")
    ordered = list(slugs)
    if len(set(ordered)) != len(ordered):
        raise ValueError("a tenant appears twice")
    if canary is not None:
        if canary not in ordered:
            raise ValueError(f"the canary {canary!r} is not a tenant of the catalogue")
        ordered.remove(canary)
        ordered.insert(0, canary)
    waves: list[list[str]] = []
    start = 0
    for size in sizes:
        if start >= len(ordered):
            break
        waves.append(ordered[start : start + size])
        start += size
    if start < len(ordered):
        waves.append(ordered[start:])
    return waves
