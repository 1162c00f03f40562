"""What the import shows of the source's names: on the terminal (`printable`) and in the CSV
report (`write_report`). A file name is the source's data, not ours: it can hold escape
sequences (ESC [2J clears a terminal) or start like a spreadsheet formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

REPORT_FIELDS = ("source", "title", "status", "via", "file_id", "reason")
# OWASP's CSV injection rule: a cell starting with one of these is read as a formula by
# spreadsheets; a leading single quote makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """`text` with every character that is not printable (controls such as ESC, line breaks,
    invisible format characters such as U+202E) written as its Python escape: `\\x1b`,
    `\\n`, `\\u202e`. Printable text, accents included, is left as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def csv_cell(text: str) -> str:
    """A report cell: printable, and never read as a formula."""
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_report(path: Path, rows: Iterable[Sequence[str | None]]) -> None:
    """One row per file, in REPORT_FIELDS order."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_FIELDS)
        for row in rows:
            writer.writerow([csv_cell(cell or "") for cell in row])
