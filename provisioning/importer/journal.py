"""The import's journal: what a rerun needs to continue where a crash or Ctrl-C stopped it.

JSON Lines, appended and fsynced one event at a time, so a kill loses at most the line being
written (a torn last line is ignored on reading). The first line names the target and the
source, so one journal is never applied to another tenant. Events, keyed by the item's
`source_id` (the last one of an item wins):

    {"id": ..., "event": "tus", "url": ..., "sha256": ...}   a tus upload was created (resume it)
    {"id": ..., "event": "direct", "upload_id": ...}          a direct upload was created
    {"id": ..., "event": "done", "file_id": ..., "replayed": bool}
    {"id": ..., "event": "failed", "reason": ...}             tried again on the next run
    {"id": ..., "event": "restart"}                           the recorded tus upload is gone

A file stored by the tenant whose "done" never reached the journal (killed in between) is not
stored twice: its Idempotency-Key (derived from the item, not from the run) makes the next
attempt a replay, and a tus upload recorded here is found complete by its HEAD.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

FORMAT = "silo-import/1"


class JournalError(RuntimeError):
    pass


@dataclass
class Entry:
    """An item's state, folded from its events: a recorded tus upload stays recorded through a
    later failure (the next run resumes or finds it complete) until a "restart" drops it."""

    done: bool = False
    # The transport the item was first sent with: a rerun keeps it, whatever --direct-max says
    # now (the tenant's Idempotency-Key fingerprint includes the endpoint).
    via: str | None = None
    file_id: str | None = None
    url: str | None = None
    sha256: str | None = None
    reason: str | None = None

    def apply(self, event: str, fields: dict) -> None:
        if event == "tus":
            self.via, self.url, self.sha256 = "tus", fields.get("url"), fields.get("sha256")
        elif event == "direct":
            self.via = "direct"
        elif event == "restart":
            self.url = self.sha256 = None
        elif event == "done":
            self.done, self.file_id = True, fields.get("file_id")
        elif event == "failed":
            self.reason = fields.get("reason")


class Journal:
    def __init__(self, path: Path, *, target: str, source: str) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        header = {"journal": FORMAT, "target": target, "source": source}
        if path.exists() and path.stat().st_size:
            self._load(header)
            self._file = path.open("a", encoding="utf-8")
            self._heal()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
            self._write(header)

    def _load(self, header: dict) -> None:
        with self.path.open(encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        try:
            found = json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            found = {}
        if found.get("journal") != FORMAT:
            raise JournalError(f"{self.path} is not a silo import journal")
        for key in ("target", "source"):
            if found.get(key) != header[key]:
                raise JournalError(
                    f"{self.path} records an import with {key} {found.get(key)!r}, not "
                    f"{header[key]!r}; give another --journal (or remove this one)"
                )
        for line in lines[1:]:
            try:
                event = json.loads(line)
                self.entries.setdefault(event["id"], Entry()).apply(event["event"], event)
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue  # a line torn by a kill

    def _heal(self) -> None:
        """A torn last line must not swallow the next event: end it first."""
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                self._file.write("\n")
                self._file.flush()

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def record(self, source_id: str, event: str, **fields: object) -> None:
        with self._lock:
            self._write({"id": source_id, "event": event, **fields})
            self.entries.setdefault(source_id, Entry()).apply(event, fields)

    def get(self, source_id: str) -> Entry | None:
        return self.entries.get(source_id)

    def close(self) -> None:
        self._file.close()
