"""File objects rendered to JSON once per row version, kept per instance, for the list pages.

- `RenderedFiles`: the kept renderings, at most `max_entries` (`DEFAULT_MAX_ENTRIES`)
  - `lookup`: a page's row versions -> the renderings kept, and the ids still to read
  - `render`: a page read whole -> its renderings; `add`: one row rendered and kept
  - `cold`: whether recent pages were mostly unrendered (then pages are read whole)

Design: docs/design/read-path.md
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

import orjson

from service.files.sql import Row, RowVersion, VersionedRow

DEFAULT_MAX_ENTRIES = 10_000
# Recent pages' share of rows not rendered yet (a moving average, each page weighing this much)
# above which pages are read whole: `cold`.
_MISS_WEIGHT = 0.2
_COLD_ABOVE = 0.5


class RenderedFiles:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max = max_entries
        self._taxonomy: int | None = None  # the taxonomy version the entries were rendered at
        self._entries: dict[tuple[str, int], bytes] = {}
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

    def lookup(self, versions: Sequence[RowVersion]) -> tuple[dict[str, bytes], list[str]]:
        """For one page's row versions (read in one snapshot): the renderings kept for them, by
        id, and the ids of the rows not rendered at their version."""
        if not versions or versions[0][3] != self._taxonomy:
            self._note(len(versions), len(versions))
            return {}, [v[0] for v in versions]
        entries = self._entries
        found, missing = {}, []
        for file_id, version, _, _ in versions:
            rendered = entries.get((file_id, version))
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
        entries = self._entries
        for row, file_id, version, taxonomy in rows:
            rendered = entries.get((file_id, version)) if taxonomy == self._taxonomy else None
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
            self._taxonomy = taxonomy
        if taxonomy == self._taxonomy:
            if len(self._entries) >= self._max:
                for key in list(islice(self._entries, max(1, self._max // 4))):
                    del self._entries[key]
            self._entries[(file_id, version)] = rendered
        return rendered
