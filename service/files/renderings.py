"""File objects rendered to JSON once per row version, kept per instance, for the list pages.

- `RenderedFiles`: the kept renderings, least recently used first out, within `budget_bytes`
  (`DEFAULT_BUDGET_BYTES`: the renderings' bytes plus `ENTRY_OVERHEAD_BYTES` each)
  - `lookup`: a page's row versions -> the renderings kept, and the ids still to read
  - `render`: a page read whole -> its renderings; `add`: one row rendered and kept
  - `cold`: whether recent pages were mostly unrendered (then pages are read whole)

Design: docs/design/read-path.md
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from service.files.sql import Row, RowVersion, VersionedRow

MIB = 1024**2
# The kept renderings' memory at most (a rendering is about a kilobyte: some 12,000 files).
DEFAULT_BUDGET_BYTES = 16 * MIB
# What one kept rendering costs besides its bytes: the key (a tuple of a 36-character str and
# an int) and the bytes object's header (sys.getsizeof, CPython 3.11: 202), and the dict's
# slot with its spare room.
ENTRY_OVERHEAD_BYTES = 384
# Recent pages' share of rows not rendered yet (a moving average, each page weighing this much)
# above which pages are read whole: `cold`.
_MISS_WEIGHT = 0.2
_COLD_ABOVE = 0.5


class RenderedFiles:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._taxonomy: int | None = None  # the taxonomy version the entries were rendered at
        # (id, row version) -> rendering, least recently used first (a hit moves it to the end).
        self._entries: dict[tuple[str, int], bytes] = {}
        self._bytes = 0  # sum of len(rendering) + ENTRY_OVERHEAD_BYTES over the entries
        self._missing_share = 0.0

    @property
    def cold(self) -> bool:
        """Whether most rows of recent pages had to be read whole: then read pages whole."""
        return self._missing_share > _COLD_ABOVE

    def _note(self, missing: int, total: int) -> None:
        if total:
            share = missing / total
            self._missing_share += _MISS_WEIGHT * (share - self._missing_share)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The kept renderings' bytes, each with ENTRY_OVERHEAD_BYTES: at most the budget."""
        return self._bytes

    def _hit(self, key: tuple[str, int]) -> bytes | None:
        """The rendering kept under `key`, now the most recently used; None if none."""
        rendered = self._entries.pop(key, None)
        if rendered is not None:
            self._entries[key] = rendered
        return rendered

    def lookup(self, versions: Sequence[RowVersion]) -> tuple[dict[str, bytes], list[str]]:
        """For one page's row versions (read in one snapshot): the renderings kept for them, by
        id, and the ids of the rows not rendered at their version."""
        if not versions or versions[0][3] != self._taxonomy:
            self._note(len(versions), len(versions))
            return {}, [v[0] for v in versions]
        hit = self._hit
        found, missing = {}, []
        for file_id, version, _, _ in versions:
            rendered = hit((file_id, version))
            if rendered is None:
                missing.append(file_id)
            else:
                found[file_id] = rendered
        self._note(len(missing), len(versions))
        return found, missing

    def render(self, rows: Sequence[VersionedRow]) -> list[bytes]:
        """A page read whole (rows with their versions, in one snapshot): each row's
        rendering, from what is kept when it is there."""
        items, missing = [], 0
        for row, file_id, version, taxonomy in rows:
            rendered = self._hit((file_id, version)) if taxonomy == self._taxonomy else None
            if rendered is None:
                missing += 1
                rendered = self.add(row, file_id, version, taxonomy)
            items.append(rendered)
        self._note(missing, len(rows))
        return items

    def add(self, row: Row, file_id: str, version: int, taxonomy: int) -> bytes:
        """Render `row` (its id as text `file_id`, read at row version `version` and taxonomy
        version `taxonomy`), and keep the rendering unless a newer taxonomy version was seen
        already."""
        rendered = orjson.dumps(row)
        if self._taxonomy is None or taxonomy > self._taxonomy:
            self._entries.clear()
            self._bytes = 0
            self._taxonomy = taxonomy
        cost = len(rendered) + ENTRY_OVERHEAD_BYTES
        if taxonomy == self._taxonomy and cost <= self._budget:
            entries, key = self._entries, (file_id, version)
            old = entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + ENTRY_OVERHEAD_BYTES
            while entries and self._bytes + cost > self._budget:
                oldest = next(iter(entries))
                self._bytes -= len(entries.pop(oldest)) + ENTRY_OVERHEAD_BYTES
            entries[key] = rendered
            self._bytes += cost
        return rendered
